import Foundation
import SluiceKafka

/// One record for the sink to write.
public struct KafkaSinkRecord: Sendable {
    /// nil: the sink's default topic.
    public var topic: String?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// nil: librdkafka's partitioner (by key; sticky for keyless records).
    public var partition: Int32?
    /// nil: the record's event time when the runtime has one, else the broker's clock.
    public var timestamp: Int64?

    public init(topic: String? = nil, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [],
                partition: Int32? = nil, timestamp: Int64? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
        self.timestamp = timestamp
    }
}

/// The settings of the Kafka sink. The checkpoint interval is not among them: the sink takes it
/// from the runtime when it opens (and `KafkaSink.validate(checkpointInterval:)` checks it at job
/// build time).
public struct KafkaSinkConfiguration: Sendable {
    public var bootstrapServers: String
    /// The topic of records whose `KafkaSinkRecord.topic` is nil.
    public var topic: String
    public var deliveryGuarantee: DeliveryGuarantee
    /// Exactly-once: transactional ids (producers) per subtask. One holds the open transaction, the
    /// others transactions pre-committed and waiting for their checkpoint to complete. Never lower it
    /// for a job restored from a checkpoint taken with a larger pool: recovery aborts leftovers only
    /// on ids below the current pool size.
    public var producerPoolSize: Int
    /// Exactly-once: Kafka's `transaction.timeout.ms`. Must be far above the checkpoint interval plus
    /// the time to restart, and at most the broker's `transaction.max.timeout.ms`.
    public var transactionTimeout: Duration
    /// The broker's `transaction.max.timeout.ms` (Kafka's default: 15 minutes), checked at start.
    public var brokerMaxTransactionTimeout: Duration
    /// Exactly-once: how long one transaction call (init, abort at recovery or close) may wait for
    /// the broker before it fails the task. Raise it for brokers that are slow to fence old producers.
    public var transactionCallTimeout: Duration
    /// Exactly-once: hold the records of the open transaction back while the previous checkpoint's
    /// transaction waits for its commit (see `StalledLastStableOffsetHoldBack`). Turn it on for
    /// brokers whose last stable offset moves only while no transaction is open on a partition;
    /// on Apache Kafka it is not needed.
    public var holdBackWhileCommitPending: Bool
    /// With `holdBackWhileCommitPending`: at most this many bytes (keys, values, headers) of records
    /// are held back; beyond it records go to the producer at once (gauge `sluice_sink_held_back_bytes`).
    public var holdBackMaxBytes: Int
    /// What the sink does with an output record it cannot write: one its serializer rejects, or one
    /// above the producer's `message.max.bytes`. `.fail` (the default) fails the job with an error
    /// naming the input record's topic, partition and offset (when the sink is chained to the Kafka
    /// source; otherwise the output topic, key and checkpoint); `.skip` counts it in
    /// `sluice_sink_unwritable_records` and goes on; `.deadLetter(topic:)` also writes a dead letter
    /// (headers only: see `UnwritableRecordHandler`), in the same transaction as the output.
    public var unwritableRecords: MalformedRecordPolicy
    /// Exactly-once: the largest parallelism this sink (this transactional-id prefix) may have run
    /// with. At start every subtask also initialises the ids of the subtasks up to it that map onto
    /// it, which aborts transactions they left open. A restore knows the checkpoint's parallelism;
    /// a start without a checkpoint (directory wiped, new machine) after a run at a higher
    /// parallelism needs this, or those transactions stay open (on brokers that never time them
    /// out, downstream read_committed readers stall). nil: not declared. Costs
    /// `producerPoolSize` x (maxParallelism / parallelism - 1) transactional-id initialisations per
    /// subtask at each start.
    public var maxParallelism: Int?
    /// Exactly-once: prefixes of transactional ids no subtask of this job uses any more (the ids of
    /// worker processes a rescale removed). After the restored committables are committed, subtask
    /// 0 initialises `<prefix>-<subtask>-<slot>` for subtasks below `retiredParallelism` and every
    /// slot, which aborts what those workers left open.
    public var retiredTransactionalIdPrefixes: [String] = []
    public var retiredParallelism = 1
    /// Raw librdkafka producer settings, applied last.
    public var producerSettings: [String: String]

    public init(
        bootstrapServers: String,
        topic: String,
        deliveryGuarantee: DeliveryGuarantee,
        producerPoolSize: Int = 4,
        transactionTimeout: Duration = .seconds(900),
        brokerMaxTransactionTimeout: Duration = .seconds(900),
        transactionCallTimeout: Duration = .seconds(30),
        holdBackWhileCommitPending: Bool = false,
        maxParallelism: Int? = nil,
        producerSettings: [String: String] = [:],
        holdBackMaxBytes: Int = KafkaSinkConfiguration.defaultHoldBackMaxBytes,
        unwritableRecords: MalformedRecordPolicy = .fail
    ) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.deliveryGuarantee = deliveryGuarantee
        self.producerPoolSize = producerPoolSize
        self.transactionTimeout = transactionTimeout
        self.brokerMaxTransactionTimeout = brokerMaxTransactionTimeout
        self.transactionCallTimeout = transactionCallTimeout
        self.holdBackWhileCommitPending = holdBackWhileCommitPending
        self.maxParallelism = maxParallelism
        self.producerSettings = producerSettings
        self.holdBackMaxBytes = holdBackMaxBytes
        self.unwritableRecords = unwritableRecords
    }

    /// 64 MiB: a few seconds of output at the throughputs measured here, far below a job's memory.
    public static var defaultHoldBackMaxBytes: Int { 64 << 20 }

    /// librdkafka's default `message.max.bytes`.
    public static var defaultMaxMessageBytes: Int { 1_000_000 }

    /// The producer's `message.max.bytes` as configured in `producerSettings` (librdkafka's default otherwise).
    public var maxMessageBytes: Int {
        producerSettings["message.max.bytes"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? Self.defaultMaxMessageBytes
    }

    /// Checks the settings before anything connects; with the job's checkpoint interval (nil:
    /// periodic checkpoints off) also the transaction timeout against it.
    public func validate(checkpointInterval: Duration? = nil) throws(KafkaSinkError) {
        if topic.isEmpty { throw .invalidConfiguration("the sink's topic is empty") }
        if holdBackMaxBytes < 0 { throw .invalidConfiguration("holdBackMaxBytes must not be negative (0 holds nothing back)") }
        if case .deadLetter(let deadLetterTopic) = unwritableRecords, deadLetterTopic.isEmpty {
            throw .invalidConfiguration("the sink's dead-letter topic for unwritable records is empty")
        }
        guard case .exactlyOnce(let prefix) = deliveryGuarantee else { return }
        if prefix.isEmpty {
            throw .invalidConfiguration("exactly-once needs a transactional id prefix, unique per job and stable across restarts")
        }
        if producerPoolSize < 2 {
            throw .invalidConfiguration(
                "producerPoolSize \(producerPoolSize) is too small: one producer holds the open transaction while another waits for its checkpoint to complete; use at least 2")
        }
        if let maxParallelism, maxParallelism < 1 {
            throw .invalidConfiguration("maxParallelism \(maxParallelism) must be at least 1 (the largest parallelism the sink ever ran with), or nil")
        }
        if transactionCallTimeout <= .zero {
            throw .invalidConfiguration("transactionCallTimeout must be positive (it bounds each init/abort call to the broker); the default is 30 s")
        }
        if transactionTimeout > brokerMaxTransactionTimeout {
            throw .transactionTimeoutTooLarge(timeout: transactionTimeout, brokerMaximum: brokerMaxTransactionTimeout)
        }
        if let interval = checkpointInterval, transactionTimeout < interval * 2 + .seconds(10) {
            throw .transactionTimeoutTooSmall(timeout: transactionTimeout, checkpointInterval: interval)
        }
    }

    func producerConfiguration(transactionalId: String?, clientId: String) -> KafkaConfiguration {
        var settings = KafkaConfiguration(bootstrapServers: bootstrapServers)
        settings.clientId = clientId
        settings.linger = .milliseconds(5)
        if let transactionalId {
            settings.transactionalId = transactionalId
            settings.transactionTimeout = transactionTimeout
            // librdkafka requires message.timeout.ms < transaction.timeout.ms.
            settings.messageTimeout = min(.seconds(300), max(.seconds(1), transactionTimeout - .seconds(1)))
        } else {
            settings.enableIdempotence = true
        }
        for (key, value) in producerSettings { settings[key] = value }
        return settings
    }
}
