import Logging
import Metrics
import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime

/// The exactly-once `KafkaSink` as the runtime's two-phase-commit protocol sees it. It only wires
/// the parts together, each in its own file:
/// - `KafkaProducerPool` and `KafkaTransactionalIdPool`: a fixed pool of transactional ids and
///   producers per subtask;
/// - `KafkaTransactionalWriter` (optionally decorated by `StalledLastStableOffsetHoldBack`): each
///   checkpoint's records into one transaction, flushed at the barrier into a committable;
/// - `KafkaCommitter`: commits on checkpoint completion and, after a crash, every committable of the
///   restored checkpoint on the wire (EndTxn) BEFORE any producer initialises an id;
/// - `LingeringTransactionAborter`: then initialises every id the job may have used, which aborts
///   what was left open;
/// - `UnwritableRecordHandler`: output the serializer rejects or that is too large for the producer
///   fails the job, is skipped, or becomes a dead letter in the same transaction.
final class KafkaTwoPhaseCommitSink<Input: Sendable>: TwoPhaseCommitSink {
    typealias Committable = TransactionCommittable

    let configuration: KafkaSinkConfiguration
    let serializer: KafkaSink<Input>.Serializer
    let ids: KafkaTransactionalIdPool
    /// Replaces librdkafka and the wire-level EndTxn in unit tests.
    private let clients: Clients?
    private var logger = Logger(label: "sluice.kafka.sink")
    private(set) var pool: KafkaProducerPool?
    private(set) var writer: (any TransactionalRecordWriter)?
    private var committer: KafkaCommitter?
    private var aborter: LingeringTransactionAborter?
    private var unwritable: UnwritableRecordHandler?

    /// The clients the sink's parts talk to.
    struct Clients {
        let producers: any TransactionalProducerFactory
        let recovery: () throws -> any TransactionRecoveryClient
    }

    init(configuration: KafkaSinkConfiguration, prefix: String, serializer: @escaping KafkaSink<Input>.Serializer, clients: Clients? = nil) {
        self.configuration = configuration
        self.serializer = serializer
        self.ids = KafkaTransactionalIdPool(prefix: prefix, size: configuration.producerPoolSize)
        self.clients = clients
    }

    func open(_ context: SinkContext<TransactionCommittable>) throws {
        try configuration.validate(checkpointInterval: context.checkpointInterval)
        let subtask = context.subtaskIndex
        logger = context.logger
        logger[metadataKey: "sink.subtask"] = "\(subtask)"
        func counter(_ label: String) -> Counter {
            Counter(label: label, dimensions: context.metricDimensions, factory: context.metricsFactory)
        }
        let counters = KafkaSinkCounters(
            commits: counter("sluice_sink_transactions_committed"), aborts: counter("sluice_sink_transactions_aborted"),
            lost: counter("sluice_sink_transactions_lost"))
        let bootstrap = configuration.bootstrapServers
        // Recovery's own connections (EndTxn) speak the same TLS and SASL as the sink's producers.
        let security = try KafkaWireSecurity(properties: configuration.producerSettings)
        let clients = clients ?? Clients(
            producers: LibrdkafkaProducerFactory(configuration: configuration, clientId: "sluice-sink-\(subtask)", logger: logger),
            recovery: { try TransactionResolver(bootstrap: bootstrap, options: KafkaConnectionOptions(security: security)) })
        let pool = KafkaProducerPool(ids: ids, subtask: subtask, factory: clients.producers)
        let writer = KafkaTransactionalWriter(pool: pool, counters: counters, transactionCallTimeout: configuration.transactionCallTimeout)
        self.pool = pool
        self.writer = configuration.holdBackWhileCommitPending
            ? StalledLastStableOffsetHoldBack(
                decorating: writer, byteLimit: configuration.holdBackMaxBytes,
                heldBackBytes: Gauge(label: "sluice_sink_held_back_bytes", dimensions: context.metricDimensions, factory: context.metricsFactory))
            : writer
        unwritable = UnwritableRecordHandler(
            configuration: configuration, counter: counter("sluice_sink_unwritable_records"), logger: logger)
        committer = KafkaCommitter(pool: pool, counters: counters, logger: logger, makeRecoveryClient: clients.recovery)
        aborter = LingeringTransactionAborter(
            factory: clients.producers, logger: logger, declaredMaxParallelism: configuration.maxParallelism)
    }

    func restoredTransactionState(_ committable: TransactionCommittable, checkpointId: Int64) throws -> RestoredTransactionState {
        try opened(committer).restoredState(committable, checkpointId: checkpointId)
    }

    func recoverAndCommit(_ committable: TransactionCommittable) throws {
        try opened(committer).recover(committable)
    }

    func recoverAndAbort(_ context: SinkRecoveryContext) throws {
        let started = ContinuousClock.now
        let ids = try opened(aborter).abortLingering(
            in: opened(pool), parallelism: context.parallelism, previousParallelism: context.previousParallelism)
        logger.info("Initialised \(ids.count) transactional ids in \(KafkaCommitter.format(KafkaCommitter.millis(since: started))) ms.")
        // Only after every committable of the restored checkpoint was committed (by `recoverAndCommit`):
        // initialising a retired id aborts its open transaction, promised or not.
        guard context.subtaskIndex == 0, !configuration.retiredTransactionalIdPrefixes.isEmpty else { return }
        let retired = configuration.retiredTransactionalIdPrefixes.flatMap { prefix in
            (0..<configuration.retiredParallelism).flatMap { subtask in
                (0..<configuration.producerPoolSize).map { KafkaTransactionalIdPool(prefix: prefix, size: configuration.producerPoolSize).id(subtask: subtask, slot: $0) }
            }
        }
        for producer in try opened(aborter).initialiseConcurrently(retired) { producer.close() }
        logger.notice("Aborted what the transactional ids \(configuration.retiredTransactionalIdPrefixes.map { "\($0)-*" }.joined(separator: ", ")) of workers that no longer exist left open (\(retired.count) ids).")
    }

    func beginTransaction(checkpointId: Int64) throws -> KafkaSinkTransaction {
        try failingWhenFenced(transactionalId: "\(ids.prefix)-*", slot: nil) { try opened(writer).beginTransaction(checkpointId: checkpointId) }
    }

    func write(_ value: Input, timestamp: Int64?, to transaction: inout KafkaSinkTransaction) throws {
        // Per record: plain optional bindings, not the generic `opened`, whose unspecialised call
        // looked up `Optional<Part>`'s metadata twice per record (issue 16 profile).
        guard let unwritable = self.unwritable, let writer = self.writer else {
            throw KafkaSinkError.invalidConfiguration("the sink was not opened")
        }
        let checkpointId = transaction.checkpointId
        guard let record = try unwritable.prepare(value, timestamp: timestamp, checkpointId: checkpointId, serializer: serializer) else { return }
        var open = transaction
        defer { transaction = open }
        let deadLetter: ProducerRecord?
        do {
            try failingWhenFenced(transactionalId: open.transactionalId, slot: open.slot) { try writer.write(record, to: &open) }
            return
        } catch let error as KafkaSinkError {
            // librdkafka refused it (MSG_SIZE_TOO_LARGE): the policy decides; any other error is rethrown.
            guard case .kafka(let refusal, let context) = error else { throw error }
            deadLetter = try unwritable.refused(record, refusal, checkpointId: checkpointId, context: context)
        }
        // A dead letter goes into the same transaction as the output: committed with its checkpoint.
        if let deadLetter {
            try failingWhenFenced(transactionalId: open.transactionalId, slot: open.slot) { try writer.write(deadLetter, to: &open) }
        }
    }

    func preCommit(_ transaction: inout KafkaSinkTransaction) throws -> TransactionCommittable? {
        var open = transaction
        defer { transaction = open }
        guard let preCommitted = try failingWhenFenced(transactionalId: open.transactionalId, slot: open.slot, { try opened(writer).preCommit(&open) }) else {
            return nil
        }
        committer?.awaitCommit(preCommitted)
        return preCommitted.committable
    }

    func commit(_ committable: TransactionCommittable) throws {
        try failingWhenFenced(transactionalId: committable.transactionalId, slot: pool?.busySlot(of: committable.transactionalId)) {
            _ = try opened(committer).commit(committable)
            try writer?.didCommit()
        }
    }

    /// While the job runs (not in recovery, where fencing leftovers is the point), being fenced
    /// means another job took the transactional id over: a `KafkaSinkFencedError`, which ends the
    /// job instead of restarting it into a fencing duel.
    /// librdkafka reports the fencing itself only to its error callback: the failing call shows its
    /// consequences (`_FATAL`, purged deliveries), so the slot's producer is asked for its fatal state.
    // Inlined so the per-record call in `write` needs no generic metadata for `T`.
    @inline(__always)
    private func failingWhenFenced<T>(transactionalId: String, slot: Int?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            let state = slot.flatMap { pool?.existingProducer($0)?.fatalState }
            if let fenced = KafkaSinkFencedError.from(error, transactionalId: transactionalId)
                ?? state.flatMap({ KafkaSinkFencedError.isFencing($0) ? KafkaSinkFencedError(transactionalId: transactionalId, cause: $0) : nil }) {
                logger.error("\(fenced)")
                throw fenced
            }
            throw error
        }
    }

    func abort(_ transaction: inout KafkaSinkTransaction) throws {
        committer?.forget(slot: transaction.slot)
        try writer?.abort(&transaction)
    }

    func close() throws {
        pool?.closeAll()
    }

    private func opened<Part>(_ part: Part?) throws(KafkaSinkError) -> Part {
        guard let part else { throw .invalidConfiguration("the sink was not opened") }
        return part
    }
}
