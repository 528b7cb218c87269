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

/// The settings of the Kafka sinks.
public struct KafkaSinkConfiguration: Sendable {
    public var bootstrapServers: String
    /// The topic of records whose `KafkaSinkRecord.topic` is nil.
    public var topic: String
    public var deliveryGuarantee: DeliveryGuarantee
    /// Exactly-once: transactional ids are `<prefix>-<subtask>-<slot>`. Must be unique per job and
    /// stable across restarts (it is how a restarted job finds and ends its old transactions).
    public var transactionalIdPrefix: String
    /// Exactly-once: transactional ids (producers) per subtask. One holds the open transaction, the
    /// others transactions pre-committed and waiting for their checkpoint to complete. Never lower it
    /// for a job restored from a checkpoint taken with a larger pool: recovery aborts leftovers only
    /// on ids below the current pool size.
    public var producerPoolSize: Int
    /// Exactly-once: Kafka's `transaction.timeout.ms`. Must be far above the checkpoint interval plus
    /// the time to restart, and at most the broker's `transaction.max.timeout.ms`.
    public var transactionTimeout: Duration
    /// The job's checkpoint interval, checked against `transactionTimeout` at start.
    public var checkpointInterval: Duration?
    /// The broker's `transaction.max.timeout.ms` (Kafka's default: 15 minutes), checked at start.
    public var brokerMaxTransactionTimeout: Duration
    /// Exactly-once: how long one transaction call (init, abort at recovery or close) may wait for
    /// the broker before it fails the task. Raise it for brokers that are slow to fence old producers.
    public var transactionCallTimeout: Duration
    /// Raw librdkafka producer settings, applied last.
    public var producerSettings: [String: String]

    public init(
        bootstrapServers: String,
        topic: String,
        deliveryGuarantee: DeliveryGuarantee = .exactlyOnce,
        transactionalIdPrefix: String = "sluice",
        producerPoolSize: Int = 4,
        transactionTimeout: Duration = .seconds(900),
        checkpointInterval: Duration? = nil,
        brokerMaxTransactionTimeout: Duration = .seconds(900),
        transactionCallTimeout: Duration = .seconds(30),
        producerSettings: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.deliveryGuarantee = deliveryGuarantee
        self.transactionalIdPrefix = transactionalIdPrefix
        self.producerPoolSize = producerPoolSize
        self.transactionTimeout = transactionTimeout
        self.checkpointInterval = checkpointInterval
        self.brokerMaxTransactionTimeout = brokerMaxTransactionTimeout
        self.transactionCallTimeout = transactionCallTimeout
        self.producerSettings = producerSettings
    }

    /// Checks the settings before anything connects.
    public func validate() throws(KafkaSinkError) {
        if topic.isEmpty { throw .invalidConfiguration("the sink's topic is empty") }
        guard deliveryGuarantee == .exactlyOnce else { return }
        if transactionalIdPrefix.isEmpty {
            throw .invalidConfiguration("exactly-once needs a transactionalIdPrefix, unique per job and stable across restarts")
        }
        if producerPoolSize < 2 {
            throw .invalidConfiguration(
                "producerPoolSize \(producerPoolSize) is too small: one producer holds the open transaction while another waits for its checkpoint to complete; use at least 2")
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
        settings.lingerMs = 5
        if let transactionalId {
            let timeoutMs = Int(transactionTimeout.components.seconds * 1000)
                + Int(transactionTimeout.components.attoseconds / 1_000_000_000_000_000)
            settings.transactionalId = transactionalId
            settings.transactionTimeoutMs = timeoutMs
            // librdkafka requires message.timeout.ms < transaction.timeout.ms.
            settings.messageTimeoutMs = min(300_000, max(1000, timeoutMs - 1000))
        } else {
            settings.enableIdempotence = true
        }
        for (key, value) in producerSettings { settings[key] = value }
        return settings
    }
}

/// Errors of the Kafka sinks; each says what to do.
public enum KafkaSinkError: Error, CustomStringConvertible {
    case invalidConfiguration(String)
    case transactionTimeoutTooLarge(timeout: Duration, brokerMaximum: Duration)
    case transactionTimeoutTooSmall(timeout: Duration, checkpointInterval: Duration)
    case transactionTimeoutRefusedByBroker(timeout: Duration, KafkaError)
    case producerPoolExhausted(poolSize: Int, pendingCheckpoints: [Int64])
    case deliveryFailed(count: Int, first: KafkaError?)
    case recoveryFailed(transactionalId: String, outcome: String)
    case kafka(KafkaError, context: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why):
            return "Invalid Kafka sink configuration: \(why)."
        case .transactionTimeoutTooLarge(let timeout, let maximum):
            return "transaction timeout \(timeout) is above the broker's transaction.max.timeout.ms (\(maximum)): the broker "
                + "would refuse it. Lower transactionTimeout, or raise the broker's limit and set brokerMaxTransactionTimeout."
        case .transactionTimeoutTooSmall(let timeout, let interval):
            return "transaction timeout \(timeout) is too close to the checkpoint interval \(interval): a transaction lives "
                + "for an interval and until its checkpoint completes, and must survive a restart. Use at least 2 x interval + 10 s "
                + "(Flink's builder uses 1 hour)."
        case .transactionTimeoutRefusedByBroker(let timeout, let error):
            return "The broker refused transaction timeout \(timeout) (\(error.codeName)): it is above the broker's "
                + "transaction.max.timeout.ms. Lower transactionTimeout or raise the broker's limit."
        case .producerPoolExhausted(let size, let pending):
            return "All \(size) transactional producers of this subtask hold transactions waiting for checkpoints \(pending) "
                + "to complete. Checkpoints are failing or slow; raise producerPoolSize or fix the checkpoints."
        case .deliveryFailed(let count, let first):
            return "\(count) records of the transaction were not delivered (first: \(first.map { "\($0)" } ?? "unknown")); "
                + "the transaction is aborted and the job restarts from its last checkpoint."
        case .recoveryFailed(let id, let outcome):
            return "Could not commit the recovered transaction '\(id)': \(outcome). The job retries on restart; check the broker."
        case .kafka(let error, let context):
            return "\(context): \(error)"
        }
    }
}
