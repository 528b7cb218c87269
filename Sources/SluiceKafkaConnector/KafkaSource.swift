import Foundation
import Logging
import Metrics
import SluiceKafka
import SluiceRuntime

/// Where a split starts when the checkpoint has no offset for it (a fresh start, or a partition
/// discovered later).
public enum KafkaStartingOffsets: Sendable, Hashable {
    case earliest
    case latest
    /// The first record whose timestamp is at or after this (milliseconds since the epoch).
    case timestamp(Int64)
}

/// What the source does with a record its deserializer rejects.
public enum MalformedRecordPolicy: Sendable, Hashable {
    /// Fail the job (it restarts from the last checkpoint under its restart strategy, and fails
    /// again on the same record: nothing is lost, and the error names topic, partition and offset).
    case fail
    /// Skip the record and count it in `sluice_source_malformed_records`; its offset still advances.
    case skip
    /// Skip and count it as `skip` does, and write it unchanged to this dead-letter topic, with
    /// headers naming its topic, partition, offset and the error (at least once: see `KafkaDeadLetterWriter`).
    case deadLetter(topic: String)
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

/// One split's position in the checkpoint: the next offset to read.
struct KafkaSplitState: Codable, Hashable {
    var topic: String
    var partition: Int32
    var nextOffset: Int64
    /// Set while a `.timestamp` start has not yet reached its first record at or after this time
    /// (absent in checkpoints of older versions: nothing to skip).
    var skipBeforeTimestamp: Int64?
}

/// A partition-aware Kafka source (see the module's documentation).
public struct KafkaSource<Output: Sendable>: Source {
    public typealias Deserializer = @Sendable (KafkaRecord) throws -> Output?
    /// The partition ids of a topic; nil: ask the cluster's metadata.
    typealias PartitionLister = @Sendable (String) throws -> [Int32]
    public let configuration: KafkaSourceConfiguration
    let deserializer: Deserializer
    /// Tests replace the metadata lookup to exercise partition discovery on brokers that cannot add
    /// partitions to a topic (the embedded one).
    var partitionLister: PartitionLister?

    /// - Parameter deserializer: turns a record into the source's output; nil drops the record,
    ///   a thrown error is handled by `configuration.malformedRecords`.
    public init(configuration: KafkaSourceConfiguration, deserializer: @escaping Deserializer) {
        self.configuration = configuration
        self.deserializer = deserializer
    }

    public func createReader(subtaskIndex: Int) throws -> KafkaSourceReader<Output> {
        KafkaSourceReader(configuration: configuration, deserializer: deserializer, partitionLister: partitionLister)
    }
}

/// One subtask's reader. Used on its subtask's thread only.
public final class KafkaSourceReader<Output: Sendable>: SourceReader {
    let configuration: KafkaSourceConfiguration
    let deserializer: KafkaSource<Output>.Deserializer
    let partitionLister: KafkaSource<Output>.PartitionLister?
    private var consumer: KafkaConsumer?
    private var logger = Logger(label: "sluice.kafka.source")
    private var subtaskIndex = 0
    private var parallelism = 1
    /// Next offset per owned split; the source of truth for checkpoints.
    private var nextOffsets: [TopicPartition: Int64] = [:]
    /// Splits started by `.timestamp(t)` that have not yet reached a record with timestamp >= t.
    /// A broker may answer ListOffsets with an earlier offset than the exact record (the embedded
    /// Tansu broker answers with a batch's base offset, or 0 when no record qualifies), so the
    /// reader skips what precedes the first qualifying record itself. Exact on any broker: every
    /// record before the first one at or after t has a smaller timestamp.
    private var timestampFloors: [TopicPartition: Int64] = [:]
    /// Offsets snapshotted per checkpoint, committed to the group when it completes.
    private var offsetsToCommit: [Int64: [TopicPartition: Int64]] = [:]
    private var lastDiscovery = ContinuousClock.now
    private var malformedCounter: Counter?
    private var recordsCounter: Counter?
    private var metricDimensions: [(String, String)] = []
    private var metricsFactory: (any MetricsFactory)?
    private var lagGauges: [TopicPartition: Gauge] = [:]
    private var deadLetters: KafkaDeadLetterWriter?
    private var lastLagReport = ContinuousClock.now

    init(configuration: KafkaSourceConfiguration, deserializer: @escaping KafkaSource<Output>.Deserializer,
         partitionLister: KafkaSource<Output>.PartitionLister?) {
        self.configuration = configuration
        self.deserializer = deserializer
        self.partitionLister = partitionLister
    }

    public func open(_ context: SourceReaderContext) throws {
        if case .deadLetter(let topic) = configuration.malformedRecords {
            // The consumer's connection settings (security, SASL, SSL) apply to the dead-letter producer too.
            let connection = configuration.consumerSettings.filter { ["security.", "sasl.", "ssl."].contains(where: $0.key.hasPrefix) }
            deadLetters = try KafkaDeadLetterWriter(bootstrapServers: configuration.bootstrapServers, topic: topic, settings: connection)
        }
        logger = context.logger
        subtaskIndex = context.subtaskIndex
        parallelism = context.parallelism
        malformedCounter = Counter(label: "sluice_source_malformed_records", dimensions: context.metricDimensions, factory: context.metricsFactory)
        recordsCounter = Counter(label: "sluice_source_kafka_records", dimensions: context.metricDimensions, factory: context.metricsFactory)
        metricDimensions = context.metricDimensions
        metricsFactory = context.metricsFactory

        // Restored offsets: the union of every old subtask's splits; keep the ones this subtask owns now.
        var restored: [TopicPartition: Int64] = [:]
        var restoredFloors: [TopicPartition: Int64] = [:]
        for entry in context.restoredState {
            guard let split = try? JSONDecoder().decode(KafkaSplitState.self, from: entry) else {
                throw KafkaSourceError.corruptSplitState("an entry of \(entry.count) bytes is not a split")
            }
            restored[TopicPartition(split.topic, split.partition)] = split.nextOffset
            if let floor = split.skipBeforeTimestamp { restoredFloors[TopicPartition(split.topic, split.partition)] = floor }
        }

        var settings = KafkaConfiguration(bootstrapServers: configuration.bootstrapServers)
        settings.groupId = configuration.groupId
        settings.isolationLevel = .readCommitted
        settings.clientId = "sluice-source-\(subtaskIndex)"
        // Consumer lag per partition comes from librdkafka's statistics.
        settings.statisticsIntervalMs = 1000
        for (key, value) in configuration.consumerSettings { settings[key] = value }
        do {
            consumer = try KafkaConsumer(configuration: settings, logger: logger)
        } catch {
            throw KafkaSourceError.kafka(error, context: "creating the source's consumer")
        }

        let owned = try discoverOwnedPartitions()
        if owned.isEmpty && context.subtaskIndex == 0 && restored.isEmpty {
            logger.warning("The Kafka source owns no partition of \(configuration.topics) in subtask 0; is the topic empty of partitions?")
        }
        var assignment: [TopicPartition: Int64] = [:]
        let fresh = owned.filter { restored[$0] == nil }
        let starts = try startingOffsets(for: fresh)
        for tp in owned {
            assignment[tp] = restored[tp] ?? starts[tp] ?? KafkaOffset.beginning
            if let floor = restoredFloors[tp] {
                timestampFloors[tp] = floor
            } else if restored[tp] == nil, case .timestamp(let millis) = configuration.startingOffsets {
                timestampFloors[tp] = millis
            }
        }
        try assign(assignment, registerWith: nil)
        if let id = context.restoredCheckpointId {
            logger.info("Kafka source subtask \(subtaskIndex) restored \(restored.filter { owned.contains($0.key) }.count) split offsets from checkpoint \(id).")
        }
    }

    /// The source output is only available in pollNext, so split registration for watermarks is
    /// deferred to the first poll.
    private var splitsToRegister: [String] = []

    private func assign(_ additions: [TopicPartition: Int64], registerWith output: SourceOutput<Output>?) throws {
        guard let consumer else { return }
        for (tp, offset) in additions { nextOffsets[tp] = offset }
        do {
            try consumer.assign(nextOffsets)
        } catch {
            throw KafkaSourceError.kafka(error, context: "assigning \(nextOffsets.count) partitions")
        }
        for tp in additions.keys.sorted(by: { ($0.topic, $0.partition) < ($1.topic, $1.partition) }) {
            splitsToRegister.append(tp.description)
        }
        logger.debug("Kafka source subtask \(subtaskIndex) assigned \(additions.map { "\($0.key)@\($0.value)" }.sorted())")
    }

    private func startingOffsets(for partitions: Set<TopicPartition>) throws -> [TopicPartition: Int64] {
        switch configuration.startingOffsets {
        case .earliest:
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.beginning) })
        case .latest:
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.end) })
        case .timestamp(let millis):
            guard let consumer, !partitions.isEmpty else { return [:] }
            do {
                return try consumer.offsetsForTimes(Dictionary(uniqueKeysWithValues: partitions.map { ($0, millis) }))
            } catch {
                throw KafkaSourceError.kafka(error, context: "finding offsets for timestamp \(millis)")
            }
        }
    }

    private func discoverOwnedPartitions() throws -> Set<TopicPartition> {
        guard let consumer else { return [] }
        var owned: Set<TopicPartition> = []
        for topic in configuration.topics {
            let partitions: [Int32]
            if let partitionLister {
                partitions = try partitionLister(topic)
            } else {
                do {
                    partitions = try consumer.describeTopic(topic, timeout: .seconds(10)).partitions.map(\.id)
                } catch {
                    throw KafkaSourceError.kafka(error, context: "listing the partitions of '\(topic)'")
                }
            }
            for partition in partitions
            where KafkaSplitOwnership.owner(topic: topic, partition: partition, parallelism: parallelism) == subtaskIndex {
                owned.insert(TopicPartition(topic, partition))
            }
        }
        return owned
    }

    public func pollNext(_ output: SourceOutput<Output>) throws -> SourceStatus {
        guard let consumer else { return .endOfInput }
        if !splitsToRegister.isEmpty {
            for split in splitsToRegister { output.registerSplit(split) }
            splitsToRegister.removeAll()
        }
        if let interval = configuration.partitionDiscoveryInterval, ContinuousClock.now - lastDiscovery >= interval {
            lastDiscovery = .now
            let owned = try discoverOwnedPartitions()
            let fresh = owned.subtracting(nextOffsets.keys)
            if !fresh.isEmpty {
                logger.info("Kafka source subtask \(subtaskIndex) discovered new partitions \(fresh.map(\.description).sorted()); reading them from the earliest offset.")
                try assign(Dictionary(uniqueKeysWithValues: fresh.map { ($0, KafkaOffset.beginning) }), registerWith: output)
                for split in splitsToRegister { output.registerSplit(split) }
                splitsToRegister.removeAll()
            }
        }
        if nextOffsets.isEmpty {
            return .nothingAvailable
        }
        var produced = 0
        // Records come in runs of one partition: its position, split name and timestamp floor are
        // looked up once per run, not hashed per record, and written back when the run ends.
        var run: PartitionRun?
        defer { if let run { nextOffsets[run.tp] = run.nextOffset } }
        var failedDownstream = false
        let polled: Int
        do {
            polled = try consumer.poll(maxEvents: configuration.maxRecordsPerPoll, timeout: .milliseconds(20)) { event in
                do {
                    try handle(event, output: output, run: &run, produced: &produced)
                } catch {
                    failedDownstream = true
                    throw error
                }
            }
        } catch let error as KafkaError where !failedDownstream {
            throw KafkaSourceError.kafka(error, context: "polling")
        }
        if produced > 0 { recordsCounter?.increment(by: produced) }
        reportLag(consumer)
        return polled == 0 ? .nothingAvailable : .moreAvailable
    }

    /// One polled event: a record goes downstream (or is skipped), end-of-partition moves the position.
    private func handle(
        _ event: KafkaConsumerEvent, output: SourceOutput<Output>, run: inout PartitionRun?, produced: inout Int
    ) throws {
        switch event {
        case .record(let record):
            if run?.matches(record) != true {
                if let ended = run { nextOffsets[ended.tp] = ended.nextOffset }
                let tp = record.topicPartition
                run = PartitionRun(tp: tp, split: splitName(tp), nextOffset: nextOffsets[tp] ?? -1,
                                   hasFloor: timestampFloors[tp] != nil)
            }
            // The run is changed in place (optional chaining), not copied out and back, per record.
            // A record below the checkpointed position can arrive after a seek race; never emit it twice.
            if let next = run?.nextOffset, next >= 0, record.offset < next { return }
            run?.nextOffset = record.offset + 1
            if run?.hasFloor == true, let tp = run?.tp, let floor = timestampFloors[tp] {
                if (record.timestamp ?? Int64.min) < floor { return }
                timestampFloors[tp] = nil
                run?.hasFloor = false
            }
            let value: Output?
            do {
                value = try deserializer(record)
            } catch {
                switch configuration.malformedRecords {
                case .fail:
                    throw KafkaSourceError.malformedRecord(
                        topic: record.topic, partition: record.partition, offset: record.offset, reason: "\(error)")
                case .skip:
                    malformedCounter?.increment()
                    logger.warning("Skipping malformed record \(record.topicPartition)@\(record.offset): \(error)")
                    return
                case .deadLetter(let topic):
                    malformedCounter?.increment()
                    logger.warning("Malformed record \(record.topicPartition)@\(record.offset) goes to dead-letter topic '\(topic)': \(error)")
                    try deadLetters?.send(record, reason: "\(error)")
                    return
                }
            }
            if let value, let split = run?.split {
                try output.collect(value, timestamp: record.timestamp, split: split)
                produced += 1
            }
        case .endOfPartition(let tp, let offset):
            if let ended = run {
                nextOffsets[ended.tp] = ended.nextOffset
                run = nil
            }
            // Reaching the end moves the position even when transaction markers were skipped.
            if let current = nextOffsets[tp], current < offset { nextOffsets[tp] = offset }
        case .error(let error):
            if error.isFatal { throw KafkaSourceError.kafka(error, context: "consuming") }
            logger.debug("Kafka source subtask \(subtaskIndex): \(error)")
        }
    }

    /// The split name of a partition ("topic-3"), made once per partition: one shared String keeps
    /// the watermark multiplexer's per-record lookup cheap.
    private var splitNames: [TopicPartition: String] = [:]

    private func splitName(_ tp: TopicPartition) -> String {
        if let name = splitNames[tp] { return name }
        let name = tp.description
        splitNames[tp] = name
        return name
    }

    /// The partition of the current run of records in `pollNext`.
    private struct PartitionRun {
        let tp: TopicPartition
        let split: String
        /// -1 (or another logical offset) until a record resolved it.
        var nextOffset: Int64
        var hasFloor: Bool

        func matches(_ record: KafkaRecord) -> Bool {
            record.partition == tp.partition && record.topic == tp.topic
        }
    }

    /// `sluice_source_kafka_lag{partition=...}`: records between the position and the partition's end,
    /// from the consumer's latest statistics (refreshed every second).
    private func reportLag(_ consumer: KafkaConsumer) {
        guard ContinuousClock.now - lastLagReport >= .seconds(1), let factory = metricsFactory else { return }
        lastLagReport = .now
        guard let statistics = consumer.statistics else { return }
        for tp in nextOffsets.keys {
            guard let lag = statistics.partition(tp)?.consumerLag, lag >= 0 else { continue }
            let gauge = lagGauges[tp] ?? Gauge(
                label: "sluice_source_kafka_lag", dimensions: metricDimensions + [("partition", tp.description)], factory: factory)
            lagGauges[tp] = gauge
            gauge.record(lag)
        }
    }

    public func snapshotState(checkpointId: Int64) throws -> [Data] {
        // Every dead letter below the offsets this checkpoint records must be in its topic first.
        try deadLetters?.flush()
        // Logical offsets (beginning/end) that no record has resolved yet are resolved now, so a
        // restore never depends on where "earliest" or "latest" is at restore time.
        try resolveLogicalOffsets()
        offsetsToCommit[checkpointId] = nextOffsets.filter { $0.value >= 0 }
        let encoder = JSONEncoder()
        return try nextOffsets.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
            try encoder.encode(KafkaSplitState(
                topic: $0.key.topic, partition: $0.key.partition, nextOffset: $0.value, skipBeforeTimestamp: timestampFloors[$0.key]))
        }
    }

    private func resolveLogicalOffsets() throws {
        guard let consumer else { return }
        let logical = nextOffsets.filter { $0.value < 0 }
        guard !logical.isEmpty else { return }
        let positions = (try? consumer.position(Array(logical.keys))) ?? [:]
        for (tp, logicalOffset) in logical {
            if let position = positions[tp], position >= 0 {
                nextOffsets[tp] = position
                continue
            }
            // Nothing handed out yet: resolve against the watermarks of the latest fetch response
            // (ListOffsets is unreliable on some brokers). Before the first fetch the position stays
            // logical, which for `earliest` means the same thing on restore.
            guard let marks = try? consumer.cachedWatermarks(tp), marks.low >= 0, marks.high >= 0 else { continue }
            if logicalOffset == KafkaOffset.beginning {
                nextOffsets[tp] = marks.low
            } else if logicalOffset == KafkaOffset.end {
                nextOffsets[tp] = marks.high
            }
        }
    }

    public func notifyCheckpointComplete(_ checkpointId: Int64) throws {
        let completed = offsetsToCommit.filter { $0.key <= checkpointId }
        for id in completed.keys { offsetsToCommit.removeValue(forKey: id) }
        guard let offsets = completed.max(by: { $0.key < $1.key })?.value, !offsets.isEmpty, let consumer else { return }
        // For monitoring only (consumer lag in Kafka's tools); the source never reads them back.
        do {
            try consumer.commit(offsets: offsets)
        } catch {
            logger.debug("Committing source offsets of checkpoint \(checkpointId) to group '\(configuration.groupId)' failed (monitoring only): \(error)")
        }
    }

    public func notifyCheckpointAborted(_ checkpointId: Int64) throws {
        offsetsToCommit.removeValue(forKey: checkpointId)
    }

    public func close() throws {
        deadLetters?.close()
        deadLetters = nil
        consumer?.close()
        consumer = nil
    }
}
