import Foundation
import Logging
import Synchronization
import Metrics
import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime

/// The transactional ids of one sink subtask: `<prefix>-<subtask>-<slot>` for a fixed number of
/// slots. A FIXED pool (rather than Flink's id per checkpoint) keeps the set of ids a job may ever
/// have used finite and known, so recovery aborts leftovers by initialising exactly those ids,
/// with no probing, and a producer (and its connection) is reused from transaction to transaction.
public struct KafkaTransactionalIdPool: Sendable, Hashable {
    public let prefix: String
    public let size: Int

    public init(prefix: String, size: Int) {
        self.prefix = prefix
        self.size = size
    }

    public func id(subtask: Int, slot: Int) -> String { "\(prefix)-\(subtask)-\(slot)" }

    /// Every id a subtask must initialise at start to abort what an earlier run left open: its own
    /// slots, and the slots of subtasks of a larger earlier parallelism that map onto it
    /// (old subtask j is cleaned up by new subtask j % parallelism).
    public func idsToAbort(subtask: Int, parallelism: Int, previousParallelism: Int?) -> [String] {
        let oldParallelism = max(previousParallelism ?? parallelism, parallelism)
        var ids: [String] = []
        for old in stride(from: subtask, to: oldParallelism, by: parallelism) {
            for slot in 0..<size { ids.append(id(subtask: old, slot: slot)) }
        }
        return ids
    }
}

/// An open Kafka transaction of the exactly-once sink.
public struct KafkaSinkTransaction: Sendable {
    public let slot: Int
    public let transactionalId: String
    public let checkpointId: Int64
    public fileprivate(set) var records = 0
}

/// A Kafka sink with exactly-once results through Kafka transactions and the runtime's
/// two-phase-commit protocol:
/// - each checkpoint's records go into one transaction of one pooled producer;
/// - at the barrier, `preCommit` flushes it and records a committable (transactional id, producer
///   id, epoch, first offset per partition) in the checkpoint;
/// - when the checkpoint completes, the producer commits it;
/// - after a crash, every committable of the restored checkpoint is committed with the wire-level
///   EndTxn (`TransactionResolver`) BEFORE any producer initialises an id, then every id the job
///   may have used is initialised, which aborts what was left open.
public final class KafkaExactlyOnceSink<Input: Sendable>: TwoPhaseCommitSink {
    public typealias Serializer = @Sendable (Input) throws -> KafkaSinkRecord
    public typealias Committable = TransactionCommittable

    let configuration: KafkaSinkConfiguration
    let serializer: Serializer
    let pool: KafkaTransactionalIdPool
    private var subtask = 0
    private var logger = Logger(label: "sluice.kafka.sink")
    private var producers: [KafkaTransactionalProducer?] = []
    /// Slot → checkpoint whose transaction it holds (open or pre-committed); absent = idle.
    private var busySlots: [Int: Int64] = [:]
    /// Slot → what `preCommit` measured of its transaction, logged with the commit.
    private var preCommitted: [Int: (records: Int, flushMillis: Double)] = [:]
    /// Slot of the open transaction.
    private var openSlot: Int?
    /// Records of the open transaction held back while an earlier transaction waits for its commit
    /// (see `write`).
    private var heldBack: [ProducerRecord] = []
    /// Beyond this many held-back records, records go to the broker at once.
    static var holdBackLimit: Int { 50_000 }
    private var resolver: TransactionResolver?
    private var commitsCounter: Counter?
    private var abortsCounter: Counter?
    private var lostCounter: Counter?

    /// The sink is transactional whatever `configuration.deliveryGuarantee` says, so its
    /// transaction settings are always validated.
    public init(configuration: KafkaSinkConfiguration, serializer: @escaping Serializer) {
        var exactlyOnce = configuration
        exactlyOnce.deliveryGuarantee = .exactlyOnce
        self.configuration = exactlyOnce
        self.serializer = serializer
        self.pool = KafkaTransactionalIdPool(prefix: configuration.transactionalIdPrefix, size: configuration.producerPoolSize)
    }

    public func open(_ context: SinkContext<TransactionCommittable>) throws {
        try configuration.validate()
        subtask = context.subtaskIndex
        logger = context.logger
        logger[metadataKey: "sink.subtask"] = "\(subtask)"
        commitsCounter = Counter(label: "sluice_sink_transactions_committed", dimensions: context.metricDimensions, factory: context.metricsFactory)
        abortsCounter = Counter(label: "sluice_sink_transactions_aborted", dimensions: context.metricDimensions, factory: context.metricsFactory)
        lostCounter = Counter(label: "sluice_sink_transactions_lost", dimensions: context.metricDimensions, factory: context.metricsFactory)
        producers = Array(repeating: nil, count: pool.size)
    }

    // MARK: Recovery

    public func recoverAndCommit(_ committable: TransactionCommittable) throws {
        let resolver = try transactionResolver()
        var attempts = 0
        while true {
            attempts += 1
            let outcome = resolver.commit(committable)
            switch outcome {
            case .committed:
                commitsCounter?.increment()
                logger.info("Committed recovered transaction \(committable.transactionalId) (producer \(committable.producerId), epoch \(committable.epoch)).")
                return
            case .alreadyResolved(.committed):
                logger.info("Recovered transaction \(committable.transactionalId) was already committed.")
                return
            case .alreadyResolved(.aborted), .aborted:
                // The checkpoint promised these records, but the broker aborted them: they are lost.
                lostCounter?.increment()
                logger.error("Recovered transaction \(committable.transactionalId) (producer \(committable.producerId), epoch \(committable.epoch)) was ABORTED by the broker (transaction timeout too short?): its records are lost.")
                return
            case .fenced(let why), .unknown(let why):
                if committable.firstOffsets.isEmpty {
                    // Without offsets the log cannot tell committed from lost; Tansu and Kafka answer a
                    // stale epoch this way after a commit that already happened.
                    logger.warning("Recovered transaction \(committable.transactionalId): EndTxn answered '\(why)'; it was most likely resolved already.")
                    return
                }
                lostCounter?.increment()
                logger.error("Recovered transaction \(committable.transactionalId) could not be committed (\(why)); its records may be lost.")
                return
            case .coordinatorMoved, .retriable:
                if attempts >= 5 { throw KafkaSinkError.recoveryFailed(transactionalId: committable.transactionalId, outcome: "\(outcome)") }
                Thread.sleep(forTimeInterval: 0.2 * Double(attempts))
            }
        }
    }

    public func recoverAndAbort(_ context: SinkRecoveryContext) throws {
        let started = ContinuousClock.now
        let own = Set((0..<pool.size).map { pool.id(subtask: subtask, slot: $0) })
        // Ids of subtasks of a larger earlier parallelism: initialise once to abort, then drop.
        let foreign = pool.idsToAbort(subtask: subtask, parallelism: context.parallelism, previousParallelism: context.previousParallelism)
            .filter { !own.contains($0) }
        // Our own slots: initialising them aborts what a crashed run left open, and keeps the producers.
        let missingSlots = (0..<pool.size).filter { producers[$0] == nil }
        let ids = foreign + missingSlots.map { pool.id(subtask: subtask, slot: $0) }
        let made = try Self.makeProducers(ids, configuration: configuration, clientId: "sluice-sink-\(subtask)", logger: logger)
        for (index, id) in foreign.enumerated() {
            made[index].close()
            logger.info("Aborted leftovers of transactional id \(id) (a subtask of the earlier parallelism \(context.previousParallelism ?? 0)).")
        }
        for (offset, slot) in missingSlots.enumerated() { producers[slot] = made[foreign.count + offset] }
        logger.info("Initialised \(ids.count) transactional ids in \(Self.format(Self.millis(since: started))) ms.")
    }

    private func makeProducer(transactionalId: String) throws -> KafkaTransactionalProducer {
        try Self.makeProducer(transactionalId: transactionalId, configuration: configuration, clientId: "sluice-sink-\(subtask)", logger: logger)
    }

    /// Creates and initialises producers for `ids` concurrently, one thread each: `initTransactions`
    /// is a broker round trip or more (0.05-0.5 s on the embedded broker), and a subtask initialises
    /// its whole pool at start, so one after the other it delayed the job's first output. On any
    /// failure every producer made is closed and the first error (in `ids` order) is thrown.
    static func makeProducers(
        _ ids: [String], configuration: KafkaSinkConfiguration, clientId: String, logger: Logger
    ) throws -> [KafkaTransactionalProducer] {
        if ids.count <= 1 {
            return try ids.map { try makeProducer(transactionalId: $0, configuration: configuration, clientId: clientId, logger: logger) }
        }
        let results = InitResults()
        let group = DispatchGroup()
        for (index, id) in ids.enumerated() {
            group.enter()
            let thread = Thread {
                let result = Result { try makeProducer(transactionalId: id, configuration: configuration, clientId: clientId, logger: logger) }
                results.value.withLock { $0[index] = result }
                group.leave()
            }
            thread.name = "sluice-sink-init"
            thread.start()
        }
        group.wait()
        let collected = results.value.withLock { $0 }
        var producers: [KafkaTransactionalProducer] = []
        var firstError: (any Error)?
        for index in ids.indices {
            switch collected[index] {
            case .success(let producer): producers.append(producer)
            case .failure(let error): firstError = firstError ?? error
            case nil: firstError = firstError ?? KafkaSinkError.invalidConfiguration("initialising '\(ids[index])' did not finish")
            }
        }
        if let firstError {
            for producer in producers { producer.close() }
            throw firstError
        }
        return producers
    }

    /// The outcomes of `makeProducers`' threads, by index.
    private final class InitResults: Sendable {
        let value = Mutex<[Int: Result<KafkaTransactionalProducer, any Error>]>([:])
    }

    static func makeProducer(
        transactionalId: String, configuration: KafkaSinkConfiguration, clientId: String, logger: Logger
    ) throws -> KafkaTransactionalProducer {
        let settings = configuration.producerConfiguration(transactionalId: transactionalId, clientId: clientId)
        let producer: KafkaTransactionalProducer
        do {
            producer = try KafkaTransactionalProducer(configuration: settings, logger: logger)
        } catch {
            throw KafkaSinkError.kafka(error, context: "creating the transactional producer '\(transactionalId)'")
        }
        do {
            try producer.initTransactions(timeout: configuration.transactionCallTimeout)
        } catch {
            producer.close()
            if error.kind == .invalidTransactionTimeout {
                throw KafkaSinkError.transactionTimeoutRefusedByBroker(timeout: configuration.transactionTimeout, error)
            }
            throw KafkaSinkError.kafka(error, context: "initialising transactions for '\(transactionalId)'")
        }
        return producer
    }

    private func transactionResolver() throws -> TransactionResolver {
        if let resolver { return resolver }
        // The recovery EndTxn speaks the producers' security (TLS, SASL) over Sluice's own connection.
        let security = try KafkaWireSecurity(properties: configuration.producerSettings)
        let made = try TransactionResolver(bootstrap: configuration.bootstrapServers,
                                           options: KafkaConnectionOptions(security: security))
        resolver = made
        return made
    }

    // MARK: Transactions

    public func beginTransaction(checkpointId: Int64) throws -> KafkaSinkTransaction {
        guard let slot = (0..<pool.size).first(where: { busySlots[$0] == nil }) else {
            throw KafkaSinkError.producerPoolExhausted(poolSize: pool.size, pendingCheckpoints: busySlots.values.sorted())
        }
        let producer = try producer(slot)
        do {
            try producer.beginTransaction()
        } catch {
            throw KafkaSinkError.kafka(error, context: "beginning a transaction on '\(producer.transactionalId)'")
        }
        busySlots[slot] = checkpointId
        openSlot = slot
        return KafkaSinkTransaction(slot: slot, transactionalId: producer.transactionalId, checkpointId: checkpointId)
    }

    /// Writes into the open transaction. While the previous checkpoint's transaction still waits
    /// for its commit (the few milliseconds between a barrier and the checkpoint's completion), the
    /// records are held back and produced right after that commit, up to `holdBackLimit`. Why: a
    /// transaction that opens on a partition before the previous one commits keeps that partition's
    /// last stable offset where it was on the embedded broker (Tansu only advances it when no
    /// transaction is open on the partition), so under steady input read_committed readers saw
    /// nothing for many seconds. On Kafka it costs nothing: these records are invisible until their
    /// own commit anyway. Held-back records are lost on failure like the rest of the open
    /// transaction: they follow the last checkpoint's barrier, so the source replays them.
    public func write(_ value: Input, timestamp: Int64?, to transaction: inout KafkaSinkTransaction) throws {
        let record = try serializer(value)
        let producerRecord = ProducerRecord(
            topic: record.topic ?? configuration.topic, partition: record.partition, key: record.key,
            value: record.value, headers: record.headers, timestamp: record.timestamp ?? timestamp)
        if busySlots.count > 1 && heldBack.count < Self.holdBackLimit {
            heldBack.append(producerRecord)
        } else {
            let producer = try producer(transaction.slot)
            try releaseHeldBack(to: producer)
            try produce(producerRecord, with: producer)
        }
        transaction.records += 1
    }

    private func produce(_ record: ProducerRecord, with producer: KafkaTransactionalProducer) throws {
        do {
            try producer.produce(record)
        } catch {
            throw KafkaSinkError.kafka(error, context: "writing to '\(record.topic)'")
        }
    }

    private func releaseHeldBack(to producer: KafkaTransactionalProducer) throws {
        guard !heldBack.isEmpty else { return }
        let records = heldBack
        heldBack.removeAll(keepingCapacity: true)
        for record in records { try produce(record, with: producer) }
    }

    /// After a commit: when no earlier transaction is pending any more, the held-back records go out.
    private func releaseHeldBackIfNoCommitPending() throws {
        guard !heldBack.isEmpty, busySlots.count <= 1, let slot = openSlot else { return }
        try releaseHeldBack(to: try producer(slot))
    }

    public func preCommit(_ transaction: inout KafkaSinkTransaction) throws -> TransactionCommittable? {
        let producer = try producer(transaction.slot)
        openSlot = nil
        try releaseHeldBack(to: producer)
        if transaction.records == 0 {
            // Nothing was written: ending it costs no broker round trip, and nobody needs to commit it.
            try? producer.abortTransaction(timeout: configuration.transactionCallTimeout)
            busySlots[transaction.slot] = nil
            return nil
        }
        let flushStart = ContinuousClock.now
        do {
            try producer.flush(timeout: .seconds(60))
        } catch {
            throw KafkaSinkError.kafka(error, context: "flushing the transaction of checkpoint \(transaction.checkpointId)")
        }
        preCommitted[transaction.slot] = (transaction.records, Self.millis(since: flushStart))
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        if !failures.isEmpty {
            throw KafkaSinkError.deliveryFailed(count: failures.count, first: failures.first?.error)
        }
        let identity: ProducerIdAndEpoch
        do {
            identity = try producer.producerIdAndEpoch(timeout: .seconds(10))
        } catch {
            throw KafkaSinkError.kafka(error, context: "reading the producer id and epoch of '\(producer.transactionalId)'")
        }
        var firstOffsets: [SluiceKafkaWire.TopicPartition: Int64] = [:]
        for (tp, offset) in producer.currentTransactionFirstOffsets {
            firstOffsets[SluiceKafkaWire.TopicPartition(tp.topic, tp.partition)] = offset
        }
        return TransactionCommittable(
            transactionalId: producer.transactionalId, producerId: identity.producerId, epoch: identity.epoch,
            firstOffsets: firstOffsets)
    }

    public func commit(_ committable: TransactionCommittable) throws {
        guard let slot = (0..<pool.size).first(where: { pool.id(subtask: subtask, slot: $0) == committable.transactionalId }),
              busySlots[slot] != nil, let producer = producers[slot]
        else {
            // Not ours to hold (restored from an earlier run): end it on the wire.
            try recoverAndCommit(committable)
            try releaseHeldBackIfNoCommitPending()
            return
        }
        let commitStart = ContinuousClock.now
        do {
            try producer.commitTransaction(timeout: .seconds(60))
        } catch {
            // The producer is unusable; the job restarts and recovery ends this transaction by EndTxn.
            throw KafkaSinkError.kafka(error, context: "committing '\(committable.transactionalId)'")
        }
        let commitMillis = Self.millis(since: commitStart)
        if let measured = preCommitted.removeValue(forKey: slot), let checkpoint = busySlots[slot] {
            // One line per checkpoint and subtask: what exactly-once costs on top of at-least-once.
            logger.info(
                "Committed the transaction of checkpoint \(checkpoint) (\(measured.records) records; flush at the barrier \(Self.format(measured.flushMillis)) ms, commit \(Self.format(commitMillis)) ms).")
        }
        busySlots[slot] = nil
        commitsCounter?.increment()
        try releaseHeldBackIfNoCommitPending()
    }

    private static func millis(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start) / .milliseconds(1)
    }

    private static func format(_ millis: Double) -> String {
        String(format: "%.1f", millis)
    }

    public func abort(_ transaction: inout KafkaSinkTransaction) throws {
        defer {
            busySlots[transaction.slot] = nil
            preCommitted[transaction.slot] = nil
            if openSlot == transaction.slot {
                openSlot = nil
                heldBack.removeAll()
            }
        }
        guard let producer = producers[transaction.slot] else { return }
        do {
            try producer.abortTransaction(timeout: configuration.transactionCallTimeout)
            abortsCounter?.increment()
        } catch {
            throw KafkaSinkError.kafka(error, context: "aborting '\(transaction.transactionalId)'")
        }
    }

    public func close() throws {
        // Pre-committed transactions stay open on the broker: the checkpoint that holds their
        // committables commits them on restore.
        for producer in producers { producer?.close() }
        producers = Array(repeating: nil, count: pool.size)
        busySlots.removeAll()
        preCommitted.removeAll()
        heldBack.removeAll()
        openSlot = nil
    }

    func producer(_ slot: Int) throws -> KafkaTransactionalProducer {
        if slot < producers.count, let producer = producers[slot] { return producer }
        let made = try makeProducer(transactionalId: pool.id(subtask: subtask, slot: slot))
        producers[slot] = made
        return made
    }
}

/// A Kafka sink without transactions: `.atLeastOnce` flushes at every checkpoint barrier, so a
/// completed checkpoint never loses records (duplicates are possible after a failure); `.none`
/// never waits.
public final class KafkaAtLeastOnceSink<Input: Sendable>: SinkWriter {
    public typealias Serializer = @Sendable (Input) throws -> KafkaSinkRecord
    let configuration: KafkaSinkConfiguration
    let serializer: Serializer
    private var producer: KafkaProducer?

    public init(configuration: KafkaSinkConfiguration, serializer: @escaping Serializer) {
        self.configuration = configuration
        self.serializer = serializer
    }

    public func open(_ context: SinkContext<Never>) throws {
        try configuration.validate()
        do {
            producer = try KafkaProducer(
                configuration: configuration.producerConfiguration(transactionalId: nil, clientId: "sluice-sink-\(context.subtaskIndex)"),
                deliveryReports: .collectFailures, logger: context.logger)
        } catch {
            throw KafkaSinkError.kafka(error, context: "creating the sink's producer")
        }
    }

    public func write(_ value: Input, timestamp: Int64?) throws {
        guard let producer else { throw KafkaSinkError.invalidConfiguration("the sink was not opened") }
        let record = try serializer(value)
        do {
            try producer.produce(ProducerRecord(
                topic: record.topic ?? configuration.topic, partition: record.partition, key: record.key,
                value: record.value, headers: record.headers, timestamp: record.timestamp ?? timestamp))
        } catch {
            throw KafkaSinkError.kafka(error, context: "writing to '\(record.topic ?? configuration.topic)'")
        }
    }

    public func flush() throws {
        guard configuration.deliveryGuarantee != .none, let producer else { return }
        do {
            try producer.flush(timeout: .seconds(60))
        } catch {
            throw KafkaSinkError.kafka(error, context: "flushing at the checkpoint barrier")
        }
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        if !failures.isEmpty { throw KafkaSinkError.deliveryFailed(count: failures.count, first: failures.first?.error) }
    }

    public func close() throws {
        producer?.close(flushTimeout: .seconds(10))
        producer = nil
    }
}
