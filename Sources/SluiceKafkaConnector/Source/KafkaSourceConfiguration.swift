import SluiceKafka

/// Where a split starts when the checkpoint has no offset for it (a fresh start, or a partition
/// discovered later).
public enum KafkaStartingOffsets: Sendable, Hashable {
    case earliest
    case latest
    /// The first record whose timestamp is at or after this (milliseconds since the epoch).
    case timestamp(Int64)
}

/// What the source does when a position it must read from is no longer in the log (retention or
/// DeleteRecords removed it while the job was down, or the topic was recreated): librdkafka's
/// `auto.offset.reset` would jump silently, which loses (or repeats) input.
public enum OffsetOutOfRangePolicy: String, Sendable, Hashable, CaseIterable {
    /// Fail naming the partition, the offset and where the log starts now (the default).
    case fail
    /// Go on from the earliest offset the log still has, with a warning and the counter
    /// `sluice_source_offset_out_of_range_resets`: the records in between are lost for this job.
    case earliest
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
    /// Raw librdkafka consumer settings, applied last (except `auto.offset.reset`, which
    /// `offsetOutOfRange` owns).
    public var consumerSettings: [String: String]
    /// A position (restored, or reached while reading) that the log no longer holds.
    public var offsetOutOfRange: OffsetOutOfRangePolicy
    /// The partitions this process reads when the job runs as several worker processes.
    public var worker: KafkaWorkerShare = .all

    public init(
        bootstrapServers: String,
        topics: [String],
        startingOffsets: KafkaStartingOffsets = .earliest,
        groupId: String = "sluice",
        partitionDiscoveryInterval: Duration? = .seconds(10),
        malformedRecords: MalformedRecordPolicy = .fail,
        maxRecordsPerPoll: Int = 500,
        consumerSettings: [String: String] = [:],
        offsetOutOfRange: OffsetOutOfRangePolicy = .fail
    ) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
        self.startingOffsets = startingOffsets
        self.groupId = groupId
        self.partitionDiscoveryInterval = partitionDiscoveryInterval
        self.malformedRecords = malformedRecords
        self.maxRecordsPerPoll = maxRecordsPerPoll
        self.consumerSettings = consumerSettings
        self.offsetOutOfRange = offsetOutOfRange
    }
}

/// Errors of the Kafka source; each says what to do.
public enum KafkaSourceError: Error, CustomStringConvertible {
    case malformedRecord(topic: String, partition: Int32, offset: Int64, reason: String)
    case corruptSplitState(String)
    case noPartitions(topics: [String])
    case kafka(KafkaError, context: String)
    /// The log no longer holds `offset`; `logStart` is where it starts now (-1: unknown).
    case offsetOutOfRange(topic: String, partition: Int32, offset: Int64, logStart: Int64, restored: Bool)

    public var description: String {
        switch self {
        case .malformedRecord(let topic, let partition, let offset, let reason):
            return "Record \(topic)-\(partition)@\(offset) could not be read: \(reason). "
                + "Fix or skip it (MalformedRecordPolicy.skip), then restart: the source resumes at this offset."
        case .corruptSplitState(let detail):
            return "The checkpoint's Kafka source state is unreadable (\(detail)); restore from an older checkpoint."
        case .noPartitions(let topics):
            return "The topics \(topics) have no partitions (do they exist?). Create them first."
        case .offsetOutOfRange(let topic, let partition, let offset, let logStart, let restored):
            let start = logStart >= 0 ? "the log now starts at offset \(logStart)" : "the broker did not say where the log starts now"
            let what = restored ? "the restored offset \(offset)" : "offset \(offset)"
            return "Partition \(topic)-\(partition): \(what) is no longer in the log (\(start)); "
                + "retention or DeleteRecords removed records this job has not read, or the topic was recreated. "
                + "Restore a checkpoint whose offsets are still in the log, or accept the loss and go on from the earliest "
                + "offset with --on-offset-out-of-range earliest (KafkaSourceConfiguration.offsetOutOfRange = .earliest)."
        case .kafka(let error, let context):
            return "\(context): \(error)"
        }
    }
}
