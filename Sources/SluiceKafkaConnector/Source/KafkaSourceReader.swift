import Foundation
import Logging
import Metrics
import SluiceKafka
import SluiceRuntime

/// One subtask's reader: the poll loop. What it reads is decided by `KafkaSplitEnumerator`, its
/// positions go into checkpoints as `KafkaSplitState`, and records the deserializer rejects go to
/// `MalformedRecordHandler`. Used on its subtask's thread only.
public final class KafkaSourceReader<Output: Sendable>: SourceReader {
    let configuration: KafkaSourceConfiguration
    let deserializer: KafkaSource<Output>.Deserializer
    let partitionLister: KafkaSource<Output>.PartitionLister?
    private var consumer: KafkaConsumer?
    private var logger = Logger(label: "sluice.kafka.source")
    private var subtaskIndex = 0
    private var enumerator: KafkaSplitEnumerator?
    /// Next offset per owned split; the source of truth for checkpoints.
    private var nextOffsets: [TopicPartition: Int64] = [:]
    /// Splits started by `.timestamp(t)` that have not yet reached a record with timestamp >= t.
    /// A broker may answer ListOffsets with an earlier offset than the exact record (some answer
    /// with a batch's base offset, or 0 when no record qualifies), so the reader skips what precedes
    /// the first qualifying record itself. Exact on any broker: every record before the first one
    /// at or after t has a smaller timestamp.
    private var timestampFloors: [TopicPartition: Int64] = [:]
    private var offsetsToCommit = PendingOffsetCommits()
    private var malformed: MalformedRecordHandler?
    private var recordsCounter: Counter?
    private var lag: KafkaLagReporter?

    init(configuration: KafkaSourceConfiguration, deserializer: @escaping KafkaSource<Output>.Deserializer,
         partitionLister: KafkaSource<Output>.PartitionLister?) {
        self.configuration = configuration
        self.deserializer = deserializer
        self.partitionLister = partitionLister
    }

    public func open(_ context: SourceReaderContext) throws {
        logger = context.logger
        subtaskIndex = context.subtaskIndex
        malformed = try MalformedRecordHandler(
            policy: configuration.malformedRecords, bootstrapServers: configuration.bootstrapServers,
            consumerSettings: configuration.consumerSettings,
            counter: Counter(label: "sluice_source_malformed_records", dimensions: context.metricDimensions, factory: context.metricsFactory),
            logger: logger)
        recordsCounter = Counter(label: "sluice_source_kafka_records", dimensions: context.metricDimensions, factory: context.metricsFactory)
        lag = KafkaLagReporter(dimensions: context.metricDimensions, factory: context.metricsFactory)

        // Restored offsets: the union of every old subtask's splits; keep the ones this subtask owns now.
        let (restored, restoredFloors) = try KafkaSplitState.decode(context.restoredState)

        var settings = KafkaConfiguration(bootstrapServers: configuration.bootstrapServers)
        settings.groupId = configuration.groupId
        settings.isolationLevel = .readCommitted
        settings.clientId = "sluice-source-\(subtaskIndex)"
        // Consumer lag per partition comes from librdkafka's statistics.
        settings.statisticsInterval = .milliseconds(1000)
        for (key, value) in configuration.consumerSettings { settings[key] = value }
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: settings, logger: logger)
        } catch {
            throw KafkaSourceError.kafka(error, context: "creating the source's consumer")
        }
        self.consumer = consumer

        let enumerator = KafkaSplitEnumerator(
            configuration: configuration, subtaskIndex: subtaskIndex, parallelism: context.parallelism, partitionLister: partitionLister)
        self.enumerator = enumerator
        let owned = try enumerator.ownedPartitions(consumer)
        if owned.isEmpty && context.subtaskIndex == 0 && restored.isEmpty {
            logger.warning("The Kafka source owns no partition of \(configuration.topics) in subtask 0; is the topic empty of partitions?")
        }
        var assignment: [TopicPartition: Int64] = [:]
        let fresh = owned.filter { restored[$0] == nil }
        let starts = try enumerator.startingOffsets(for: fresh, consumer)
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

    public func pollNext(_ output: SourceOutput<Output>) throws -> SourceStatus {
        guard let consumer else { return .endOfInput }
        if !splitsToRegister.isEmpty {
            for split in splitsToRegister { output.registerSplit(split) }
            splitsToRegister.removeAll()
        }
        if let fresh = try enumerator?.discoverNew(consumer, known: nextOffsets.keys), !fresh.isEmpty {
            logger.info("Kafka source subtask \(subtaskIndex) discovered new partitions \(fresh.map(\.description).sorted()); reading them from the earliest offset.")
            try assign(Dictionary(uniqueKeysWithValues: fresh.map { ($0, KafkaOffset.beginning) }), registerWith: output)
            for split in splitsToRegister { output.registerSplit(split) }
            splitsToRegister.removeAll()
        }
        if nextOffsets.isEmpty {
            return .nothingAvailable
        }
        var produced = 0
        // Records come in runs of one partition: its position, split name and timestamp floor are
        // looked up once per run, not hashed per record, and written back when the run ends.
        var run: PartitionRun?
        // Operators chained to this source (a sink among them) see which input record they process.
        let processing = CurrentInputRecord.ofCurrentThread()
        defer {
            if let run { nextOffsets[run.tp] = run.nextOffset }
            processing.clear()
        }
        var failedDownstream = false
        let polled: Int
        do {
            polled = try consumer.poll(maxEvents: configuration.maxRecordsPerPoll, timeout: .milliseconds(20)) { event in
                do {
                    try handle(event, output: output, run: &run, produced: &produced, processing: processing)
                } catch {
                    failedDownstream = true
                    throw error
                }
            }
        } catch let error as KafkaError where !failedDownstream {
            throw KafkaSourceError.kafka(error, context: "polling")
        }
        if produced > 0 { recordsCounter?.increment(by: produced) }
        lag?.report(consumer, partitions: nextOffsets.keys)
        return polled == 0 ? .nothingAvailable : .moreAvailable
    }

    /// One polled event: a record goes downstream (or is skipped), end-of-partition moves the position.
    private func handle(
        _ event: KafkaConsumerEvent, output: SourceOutput<Output>, run: inout PartitionRun?, produced: inout Int,
        processing: CurrentInputRecord
    ) throws {
        switch event {
        case .record(let record):
            if run?.matches(record) != true {
                if let ended = run { nextOffsets[ended.tp] = ended.nextOffset }
                let tp = record.topicPartition
                run = PartitionRun(tp: tp, split: splitName(tp), nextOffset: nextOffsets[tp] ?? -1,
                                   hasFloor: timestampFloors[tp] != nil)
                processing.enter(topic: record.topic, partition: record.partition)
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
                try malformed?.reject(record, because: error)
                return
            }
            if let value, let split = run?.split {
                processing.process(offset: record.offset)
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

    public func snapshotState(checkpointId: Int64) throws -> [Data] {
        // Every dead letter below the offsets this checkpoint records must be in its topic first.
        try malformed?.flush()
        // Logical offsets (beginning/end) that no record has resolved yet are resolved now, so a
        // restore never depends on where "earliest" or "latest" is at restore time.
        if let consumer { KafkaSplitState.resolveLogicalOffsets(&nextOffsets, consumer) }
        offsetsToCommit.record(nextOffsets, checkpointId: checkpointId)
        return try KafkaSplitState.encode(offsets: nextOffsets, floors: timestampFloors)
    }

    public func notifyCheckpointComplete(_ checkpointId: Int64) throws {
        guard let offsets = offsetsToCommit.complete(checkpointId), !offsets.isEmpty, let consumer else { return }
        // For monitoring only (consumer lag in Kafka's tools); the source never reads them back.
        do {
            try consumer.commit(offsets: offsets)
        } catch {
            logger.debug("Committing source offsets of checkpoint \(checkpointId) to group '\(configuration.groupId)' failed (monitoring only): \(error)")
        }
    }

    public func notifyCheckpointAborted(_ checkpointId: Int64) throws {
        offsetsToCommit.abort(checkpointId)
    }

    public func close() throws {
        malformed?.close()
        malformed = nil
        consumer?.close()
        consumer = nil
    }
}
