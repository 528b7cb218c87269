import SluiceKafka

/// Where a split starts when the checkpoint has no offset for it (a fresh start, or a partition
/// discovered later).
public enum KafkaStartingOffsets: Sendable, Hashable {
    case earliest
    case latest
    /// The first record whose timestamp is at or after this (milliseconds since the epoch).
    case timestamp(Int64)
}

/// The settings of a `KafkaSource`.
public struct KafkaSourceConfiguration: Sendable {
    public var bootstrapServers: String
    public var topics: [String]
    public var startingOffsets: KafkaStartingOffsets
    /// The group offsets are committed to when a checkpoint completes (monitoring only).
    public var groupId: String
    /// How often the source looks for new partitions; nil turns discovery off.
    public var partitionDiscoveryInterval: Duration?
    public var malformedRecords: MalformedRecordPolicy
    /// Records a single poll hands to the runtime at most.
    public var maxRecordsPerPoll: Int
    /// Raw librdkafka consumer settings, applied last.
    public var consumerSettings: [String: String]

    public init(
        bootstrapServers: String,
        topics: [String],
        startingOffsets: KafkaStartingOffsets = .earliest,
        groupId: String = "sluice",
        partitionDiscoveryInterval: Duration? = .seconds(10),
        malformedRecords: MalformedRecordPolicy = .fail,
        maxRecordsPerPoll: Int = 500,
        consumerSettings: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
        self.startingOffsets = startingOffsets
        self.groupId = groupId
        self.partitionDiscoveryInterval = partitionDiscoveryInterval
        self.malformedRecords = malformedRecords
        self.maxRecordsPerPoll = maxRecordsPerPoll
        self.consumerSettings = consumerSettings
    }
}

/// Errors of the Kafka source; each says what to do.
public enum KafkaSourceError: Error, CustomStringConvertible {
    case malformedRecord(topic: String, partition: Int32, offset: Int64, reason: String)
    case corruptSplitState(String)
    case noPartitions(topics: [String])
    case kafka(KafkaError, context: String)

    public var description: String {
        switch self {
        case .malformedRecord(let topic, let partition, let offset, let reason):
            return "Record \(topic)-\(partition)@\(offset) could not be read: \(reason). "
                + "Fix or skip it (MalformedRecordPolicy.skip), then restart: the source resumes at this offset."
        case .corruptSplitState(let detail):
            return "The checkpoint's Kafka source state is unreadable (\(detail)); restore from an older checkpoint."
        case .noPartitions(let topics):
            return "The topics \(topics) have no partitions (do they exist?). Create them first."
        case .kafka(let error, let context):
            return "\(context): \(error)"
        }
    }
}
