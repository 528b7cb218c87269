import Foundation
import Logging
import Metrics
import SluiceKafkaWire
import SluiceRuntime

/// Commits the exactly-once sink's committables (Flink's `KafkaCommitter`): when their checkpoint
/// completes, with the producer that still holds the transaction; after a restore (or when the
/// producer is gone), on the wire by producer id and epoch. Idempotent: committing a committable
/// again finds it resolved in the log. It tells the outcomes apart: committed now, committed
/// earlier, aborted by the broker (the checkpoint's records are lost: counted and logged as an
/// error), and answers that cannot say. Before any restored committable is committed,
/// `restoredState` reads each one's outcome from the log so that the runtime can rewind to an
/// earlier checkpoint or fail when the broker aborted some (see `RestoredTransactionsLost`).
final class KafkaCommitter {
    /// What became of one committable.
    enum Outcome: Equatable {
        case committed
        case alreadyCommitted
        /// The broker refused EndTxn and the committable has no offsets to look the outcome up
        /// (brokers answer a stale epoch this way after a commit that already happened).
        case probablyResolved(String)
    }

    /// What `preCommit` measured of a transaction, logged with its commit.
    struct PreCommitted {
        let committable: TransactionCommittable
        let slot: Int
        let records: Int
        let flushMillis: Double
    }

    private let pool: KafkaProducerPool
    private let makeRecoveryClient: () throws -> any TransactionRecoveryClient
    private var recoveryClient: (any TransactionRecoveryClient)?
    private let counters: KafkaSinkCounters
    private let logger: Logger
    private let pause: (Duration) -> Void
    private var awaitingCommit: [Int: PreCommitted] = [:]
    /// Restored committables `restoredState` found committed in the log: `recover` reads nothing again.
    private var committedInLog: Set<TransactionCommittable> = []
    static var recoveryAttempts: Int { 5 }

    init(
        pool: KafkaProducerPool, counters: KafkaSinkCounters, logger: Logger,
        pause: @escaping (Duration) -> Void = { Thread.sleep(forTimeInterval: $0 / .seconds(1)) },
        makeRecoveryClient: @escaping () throws -> any TransactionRecoveryClient
    ) {
        self.pool = pool
        self.counters = counters
        self.logger = logger
        self.pause = pause
        self.makeRecoveryClient = makeRecoveryClient
    }

    /// Remembers a pre-committed transaction until its checkpoint completes.
    func awaitCommit(_ preCommitted: PreCommitted) { awaitingCommit[preCommitted.slot] = preCommitted }

    /// Commits a committable of a completed checkpoint.
    @discardableResult
    func commit(_ committable: TransactionCommittable) throws -> Outcome {
        guard let slot = pool.busySlot(of: committable.transactionalId), let producer = pool.existingProducer(slot) else {
            // Not ours to hold (restored from an earlier run): end it on the wire.
            return try recover(committable)
        }
        let commitStart = ContinuousClock.now
        do {
            try producer.commitTransaction(timeout: .seconds(60))
        } catch {
            // The producer is unusable; the job restarts and recovery ends this transaction by EndTxn.
            throw KafkaSinkError.kafka(error, context: "committing '\(committable.transactionalId)'")
        }
        let commitMillis = Self.millis(since: commitStart)
        if let measured = awaitingCommit.removeValue(forKey: slot), let checkpoint = pool.checkpoint(heldBy: slot) {
            // One line per checkpoint and subtask: what exactly-once costs on top of at-least-once.
            logger.info(
                "Committed the transaction of checkpoint \(checkpoint) (\(measured.records) records; flush at the barrier \(Self.format(measured.flushMillis)) ms, commit \(Self.format(commitMillis)) ms).")
        }
        pool.release(slot)
        counters.commits?.increment()
        return .committed
    }

    /// Forgets what waited for a commit in `slot` (its transaction was aborted).
    func forget(slot: Int) { awaitingCommit[slot] = nil }

    /// What became of a restored committable's transaction, read from the log before anything is
    /// committed: a COMMIT marker of its producer after its first offset means committed, an ABORT
    /// marker means its records are lost (per partition: from its first offset up to the marker),
    /// no marker means still open. Without first offsets nothing can be read: `.pending`.
    func restoredState(_ committable: TransactionCommittable, checkpointId: Int64) throws -> RestoredTransactionState {
        guard !committable.firstOffsets.isEmpty else { return .pending }
        let client = try recoveryClient ?? makeRecoveryClient()
        recoveryClient = client
        let markers: [TopicPartition: ControlMarker?]
        do {
            markers = try client.markersInLog(committable)
        } catch KafkaWireError.broker(_, let code, let context) where code == .offsetOutOfRange {
            throw KafkaSinkError.transactionLogGone(transactionalId: committable.transactionalId, context: context)
        } catch {
            throw KafkaSinkError.recoveryFailed(transactionalId: committable.transactionalId, outcome: "reading its markers failed: \(error)")
        }
        let found = markers.compactMapValues { $0 }
        if found.values.contains(where: { $0.type == .commit }) {
            committedInLog.insert(committable)
            return .committed
        }
        guard found.values.contains(where: { $0.type == .abort }) else { return .pending }
        let name = "\(committable.transactionalId), producer \(committable.producerId) epoch \(committable.epoch)"
        let ranges = committable.firstOffsets.sorted(by: { $0.key < $1.key }).map { partition, first in
            LostOutputRange(partition: "\(partition.topic)/\(partition.partition)", firstOffset: first,
                            endOffset: found[partition]?.offset, checkpointId: checkpointId, transaction: name)
        }
        counters.lost?.increment()
        logger.error("Restored transaction \(name) of checkpoint \(checkpointId) was ABORTED by the broker: \(ranges.map(\.description).joined(separator: "; ")).")
        return .lost(ranges)
    }

    /// Commits a committable restored from a checkpoint, on the wire; retries while the broker
    /// answers that it cannot tell yet (coordinator moving, retriable errors).
    @discardableResult
    func recover(_ committable: TransactionCommittable) throws -> Outcome {
        let id = committable.transactionalId
        if committedInLog.contains(committable) {
            logger.info("Recovered transaction \(id) was already committed.")
            return .alreadyCommitted
        }
        let client = try recoveryClient ?? makeRecoveryClient()
        recoveryClient = client
        let producer = "producer \(committable.producerId), epoch \(committable.epoch)"
        for attempt in 1... {
            let outcome = client.commit(committable)
            switch outcome {
            case .committed:
                counters.commits?.increment()
                logger.info("Committed recovered transaction \(id) (\(producer)).")
                return .committed
            case .alreadyResolved(.committed):
                logger.info("Recovered transaction \(id) was already committed.")
                return .alreadyCommitted
            case .alreadyResolved(.aborted), .aborted:
                // The broker aborted it after `restoredState` looked (its timeout expired meanwhile): fail
                // the attempt; the next restore sees the ABORT marker and rewinds or reports the loss.
                counters.lost?.increment()
                logger.error("Recovered transaction \(id) (\(producer)) was ABORTED by the broker (transaction timeout too short?).")
                throw KafkaSinkError.restoredTransactionAborted(transactionalId: id, producer: producer)
            case .fenced(let why), .unknown(let why):
                if committable.firstOffsets.isEmpty {
                    // Without offsets the log cannot tell committed from lost; brokers answer a stale
                    // epoch this way after a commit that already happened.
                    logger.warning("Recovered transaction \(id): EndTxn answered '\(why)'; it was most likely resolved already.")
                    return .probablyResolved(why)
                }
                // Refused and not in the log: never go on silently; the next restore looks again.
                counters.lost?.increment()
                logger.error("Recovered transaction \(id) could not be committed (\(why)); its records may be lost.")
                throw KafkaSinkError.recoveryFailed(transactionalId: id, outcome: why)
            case .coordinatorMoved, .retriable:
                if attempt >= Self.recoveryAttempts {
                    throw KafkaSinkError.recoveryFailed(transactionalId: id, outcome: "\(outcome)")
                }
                pause(.milliseconds(200 * attempt))
            }
        }
        throw KafkaSinkError.recoveryFailed(transactionalId: id, outcome: "no attempt made")
    }

    static func millis(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start) / .milliseconds(1)
    }

    static func format(_ millis: Double) -> String {
        String(format: "%.1f", millis)
    }
}

/// The exactly-once sink's counters (nil: not counted).
struct KafkaSinkCounters {
    var commits: Counter?
    var aborts: Counter?
    var lost: Counter?
}
