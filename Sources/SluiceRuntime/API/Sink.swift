import Foundation
import Logging
import Metrics

/// What a sink subtask gets when it opens.
public struct SinkContext<Committable: Sendable>: Sendable {
    public let subtaskIndex: Int
    public let parallelism: Int
    /// The sink's parallelism in the checkpoint restored from; nil on a fresh start.
    public let previousParallelism: Int?
    /// The checkpoint restored from; nil on a fresh start.
    public let restoredCheckpointId: Int64?
    /// EVERY committable the restored checkpoint holds, from all subtasks (union). Each subtask
    /// commits them all through `recoverAndCommit` right after `open` and only then cleans up in
    /// `recoverAndAbort`: so no subtask can abort a transaction that the checkpoint promised and
    /// another subtask has not committed yet. Commits must therefore be idempotent.
    public let restoredCommittables: [Committable]
    /// The id the first checkpoint of this run will have.
    public let firstCheckpointId: Int64
    public let logger: Logger
    public let metricDimensions: [(String, String)]
    public let metricsFactory: any MetricsFactory
    /// The job's checkpoint interval (nil: periodic checkpoints off): sinks whose transactions must
    /// outlive a checkpoint check their timeouts against it.
    public var checkpointInterval: Duration? = nil
}

/// What a two-phase-commit sink gets to clean up leftovers after a restore or a fresh start.
public struct SinkRecoveryContext: Sendable {
    public let subtaskIndex: Int
    public let parallelism: Int
    public let previousParallelism: Int?
    /// Transactions of checkpoints up to this id were committed (or are recommitted now).
    public let restoredCheckpointId: Int64?
    /// The first transaction this run begins is for this checkpoint id; anything a previous run
    /// opened for this id or later (in any subtask of the previous parallelism that maps to this
    /// one) is a leftover. Ids below it belong to the restored checkpoint: another subtask may be
    /// committing them right now, so never abort those.
    /// Ids passed to `beginTransaction` strictly increase (restored + 1, then barrier id + 1 after
    /// each barrier); they skip a number only when a checkpoint was aborted before its barrier
    /// reached this sink, so a probe for leftovers should look a few ids past the first unused one.
    public let firstCheckpointId: Int64
}

/// A sink with exactly-once results through two-phase commit (Flink's TwoPhaseCommitSinkFunction),
/// driven by the runtime's sink operator:
/// - opens with a transaction for the next checkpoint;
/// - on barrier N: `preCommit` the transaction, keep its committable as pending for N, snapshot
///   ALL pending committables, begin the next transaction;
/// - on checkpoint N complete: `commit` every pending committable with checkpoint id <= N, in order;
/// - on restore: `restoredTransactionState` of every committable of the checkpoint (lost ones make
///   the runtime rewind to an earlier checkpoint or fail, see `RestoredTransactionsLost`), then
///   `recoverAndCommit` every one, then `recoverAndAbort` leftovers, then begin a new transaction;
/// - on failure or cancel: `abort` the open transaction, best effort.
/// One instance per subtask, used on that subtask's thread only.
public protocol TwoPhaseCommitSink: AnyObject, SendableMetatype {
    associatedtype Input: Sendable
    associatedtype Transaction
    associatedtype Committable: Codable & Sendable

    func open(_ context: SinkContext<Committable>) throws
    func beginTransaction(checkpointId: Int64) throws -> Transaction
    func write(_ value: Input, timestamp: Int64?, to transaction: inout Transaction) throws
    /// Flushes the transaction; returns what `commit` needs, or nil when it holds nothing (the sink
    /// then releases it itself: it is neither committed nor aborted by the runtime).
    func preCommit(_ transaction: inout Transaction) throws -> Committable?
    /// Must be idempotent: after a crash the same committable may be committed again.
    func commit(_ committable: Committable) throws
    func abort(_ transaction: inout Transaction) throws
    /// Commits a committable restored from a checkpoint (it may already be committed).
    func recoverAndCommit(_ committable: Committable) throws
    /// Before anything restored is committed: what became of a restored committable's transaction
    /// (read only, nothing is changed). The runtime rewinds to an earlier checkpoint or fails when
    /// some were lost. Default: `.pending` (nothing can be lost).
    func restoredTransactionState(_ committable: Committable, checkpointId: Int64) throws -> RestoredTransactionState
    /// Aborts transactions a crashed run left open; the sink decides which ids to probe.
    func recoverAndAbort(_ context: SinkRecoveryContext) throws
    func close() throws
}

extension TwoPhaseCommitSink {
    public func recoverAndCommit(_ committable: Committable) throws { try commit(committable) }
    public func restoredTransactionState(_ committable: Committable, checkpointId: Int64) throws -> RestoredTransactionState { .pending }
    public func recoverAndAbort(_ context: SinkRecoveryContext) throws {}
    public func close() throws {}
}

/// A non-transactional sink (at-least-once): flushed at every barrier and at end of input.
public protocol SinkWriter: AnyObject, SendableMetatype {
    associatedtype Input: Sendable
    func open(_ context: SinkContext<Never>) throws
    func write(_ value: Input, timestamp: Int64?) throws
    func flush() throws
    func notifyCheckpointComplete(_ checkpointId: Int64) throws
    func close() throws
}

extension SinkWriter {
    public func open(_ context: SinkContext<Never>) throws {}
    public func notifyCheckpointComplete(_ checkpointId: Int64) throws {}
    public func close() throws {}
}

/// Runs a `SinkWriter`.
final class SinkWriterOperator<W: SinkWriter>: OneInputOperator<W.Input, Never> {
    let writer: W
    private var opened = false

    init(setup: OperatorSetup, writer: W) {
        self.writer = writer
        super.init(setup: setup, output: DiscardingOutput<Never>())
    }

    override func open() throws {
        try writer.open(SinkContext<Never>(
            subtaskIndex: setup.subtaskIndex, parallelism: setup.parallelism,
            previousParallelism: setup.restore?.previousParallelism, restoredCheckpointId: setup.restore?.checkpointId,
            restoredCommittables: [], firstCheckpointId: setup.services.firstCheckpointId, logger: setup.logger,
            metricDimensions: setup.metrics.dimensions(operatorID: setup.operatorID, subtask: setup.subtaskIndex),
            metricsFactory: setup.metrics.factory, checkpointInterval: setup.services.checkpointInterval))
        opened = true
    }

    override func processElement(_ value: W.Input, timestamp: Int64?) throws { try writer.write(value, timestamp: timestamp) }
    override func processWatermark(_ watermark: Int64) throws {}
    override func processIdleStatus(_ idle: Bool) throws {}
    override func finish() throws { try writer.flush() }

    override func snapshotState(checkpointId: Int64) throws -> OperatorSnapshot {
        do { try writer.flush() } catch { throw TaskFailure(underlying: error) }
        return try super.snapshotState(checkpointId: checkpointId)
    }

    override func notifyCheckpointComplete(_ checkpointId: Int64) throws { try writer.notifyCheckpointComplete(checkpointId) }

    override func close(failed: Bool) {
        guard opened else { return }
        do { try writer.close() } catch { setup.logger.warning("Closing the sink writer failed: \(error)") }
    }
}

/// A pending committable in the operator's list state: the checkpoint it belongs to, and the
/// sink's committable as JSON (few per checkpoint, so JSON's cost does not matter here).
struct PendingCommittable<C: Codable>: Codable {
    let checkpointId: Int64
    let committable: C
}

struct JSONStateSerializer<Value: Codable>: StateSerializer {
    func serialize(_ value: Value, into writer: inout BinaryWriter) throws {
        writer.writeBytes(try JSONEncoder().encode(value))
    }
    func deserialize(from reader: inout BinaryReader) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(try reader.readBytes()))
    }
}

/// Drives a `TwoPhaseCommitSink` through the checkpoint protocol (see the protocol's comment).
final class TwoPhaseCommitSinkOperator<S: TwoPhaseCommitSink>: OneInputOperator<S.Input, Never> {
    static var stateName: String { TwoPhaseCommitSinkOperatorStateName.value }

    let sink: S
    /// The open transaction, boxed: the record path then mutates it in place. (An optional of the
    /// generic transaction type, moved out and back per record, made the unspecialized generic code
    /// look up runtime type metadata for every record.)
    private final class OpenTransaction {
        var value: S.Transaction
        init(_ value: S.Transaction) { self.value = value }
    }

    private var openTransaction: OpenTransaction?
    private var transaction: S.Transaction? {
        get { openTransaction?.value }
        set { openTransaction = newValue.map(OpenTransaction.init) }
    }
    private var pending: [PendingCommittable<S.Committable>] = []
    private var pendingState: OperatorListState<PendingCommittable<S.Committable>>?
    private var finished = false
    private var opened = false
    private var nextTransactionId: Int64

    override var commitsOnCheckpointComplete: Bool { true }

    init(setup: OperatorSetup, sink: S) {
        self.sink = sink
        self.nextTransactionId = setup.services.firstCheckpointId
        super.init(setup: setup, output: DiscardingOutput<Never>())
    }

    override func open() throws {
        let state = try operatorStateStore.listState(
            Self.stateName, serializer: JSONStateSerializer<PendingCommittable<S.Committable>>(), distribution: .union)
        pendingState = state
        let restored = state.get().sorted { $0.checkpointId < $1.checkpointId }
        state.clear()
        try sink.open(SinkContext(
            subtaskIndex: setup.subtaskIndex, parallelism: setup.parallelism,
            previousParallelism: setup.restore?.previousParallelism, restoredCheckpointId: setup.restore?.checkpointId,
            restoredCommittables: restored.map(\.committable), firstCheckpointId: setup.services.firstCheckpointId,
            logger: setup.logger,
            metricDimensions: setup.metrics.dimensions(operatorID: setup.operatorID, subtask: setup.subtaskIndex),
            metricsFactory: setup.metrics.factory, checkpointInterval: setup.services.checkpointInterval))
        opened = true
        let lost = try checkRestoredTransactions(restored)
        for (index, entry) in restored.enumerated() where !lost.contains(index) {
            setup.logger.debug("Recommitting the transaction of checkpoint \(entry.checkpointId) found in the restored checkpoint.")
            try sink.recoverAndCommit(entry.committable)
        }
        try sink.recoverAndAbort(SinkRecoveryContext(
            subtaskIndex: setup.subtaskIndex, parallelism: setup.parallelism,
            previousParallelism: setup.restore?.previousParallelism, restoredCheckpointId: setup.restore?.checkpointId,
            firstCheckpointId: setup.services.firstCheckpointId))
        transaction = try sink.beginTransaction(checkpointId: nextTransactionId)
    }

    /// Throws `RestoredTransactionsLost` when a restored transaction was aborted (unless this attempt
    /// was told to accept it; then returns the indices of the lost ones, which are not committed):
    /// BEFORE anything is committed, so that a rewind to an earlier checkpoint stays exact. Every
    /// subtask sees the same committables (union) and the same log, so all agree.
    private func checkRestoredTransactions(_ restored: [PendingCommittable<S.Committable>]) throws -> Set<Int> {
        guard let checkpointId = setup.restore?.checkpointId, !restored.isEmpty else { return [] }
        var lost: [LostOutputRange] = []
        var lostIndices = Set<Int>()
        var committed: [Int64] = []
        for (index, entry) in restored.enumerated() {
            switch try sink.restoredTransactionState(entry.committable, checkpointId: entry.checkpointId) {
            case .committed: committed.append(entry.checkpointId)
            case .pending: break
            case .lost(let ranges):
                lostIndices.insert(index)
                lost += ranges.isEmpty ? [LostOutputRange(
                    partition: "(not named by the sink)", firstOffset: 0, endOffset: nil, checkpointId: entry.checkpointId,
                    transaction: "(not named by the sink)")] : ranges
            }
        }
        guard let oldestLost = lost.map(\.checkpointId).min() else { return [] }
        let rewindable = !committed.contains { $0 >= oldestLost }
        let error = RestoredTransactionsLost(restoredCheckpointId: checkpointId, lost: lost, rewindBefore: rewindable ? oldestLost : nil)
        guard setup.services.acceptLostTransactionsOf == checkpointId else { throw error }
        setup.logger.error("\(error). Going on as --on-lost-transactions continue asks: these records stay missing.")
        return lostIndices
    }

    override func processElement(_ value: S.Input, timestamp: Int64?) throws {
        guard let openTransaction else {
            throw RuntimeConfigurationError.invalid("The two-phase-commit sink '\(setup.operatorID)' received a record with no open transaction (after end of input).")
        }
        try sink.write(value, timestamp: timestamp, to: &openTransaction.value)
    }

    override func processWatermark(_ watermark: Int64) throws {}
    override func processIdleStatus(_ idle: Bool) throws {}
    override func finish() throws { finished = true }

    override func snapshotState(checkpointId: Int64) throws -> OperatorSnapshot {
        do {
            if var txn = transaction {
                transaction = nil
                if let committable = try sink.preCommit(&txn) {
                    pending.append(PendingCommittable(checkpointId: checkpointId, committable: committable))
                }
            }
            try setup.faultInjector.hit(.afterPreCommit, checkpointId: checkpointId)
            pendingState?.update(pending)
            let snapshot = try super.snapshotState(checkpointId: checkpointId)
            if !finished {
                nextTransactionId = checkpointId + 1
                transaction = try sink.beginTransaction(checkpointId: nextTransactionId)
            }
            return snapshot
        } catch let error as InjectedFault {
            throw error
        } catch {
            throw TaskFailure(underlying: error)
        }
    }

    override func notifyCheckpointComplete(_ checkpointId: Int64) throws {
        while let first = pending.first, first.checkpointId <= checkpointId {
            try sink.commit(first.committable)
            pending.removeFirst()
        }
    }

    override func close(failed: Bool) {
        guard opened else { return }
        if var txn = transaction {
            transaction = nil
            do { try sink.abort(&txn) } catch { setup.logger.warning("Aborting the open transaction failed: \(error)") }
        }
        do { try sink.close() } catch { setup.logger.warning("Closing the sink failed: \(error)") }
    }
}
