import Foundation
import Logging
import Metrics
import SluiceKafka
import SluiceKafkaWire
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
    /// Restored positions whose first record has not come yet: the first record must be at that
    /// offset, unless the log still holds the offset (transaction markers, aborted records).
    private var restoredStarts: [TopicPartition: Int64] = [:]
    /// Partitions to read again from the earliest offset after the current poll
    /// (`OffsetOutOfRangePolicy.earliest`).
    private var partitionsToRewind: Set<TopicPartition> = []
    private var offsetResets: Counter?
    /// Answers where the log of a partition holds records from, at or after an offset (a fetch
    /// of the batch headers); tests replace it.
    var firstOffsetHeld: (@Sendable (TopicPartition, Int64) throws -> Int64?)?

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
        offsetResets = Counter(label: "sluice_source_offset_out_of_range_resets", dimensions: context.metricDimensions, factory: context.metricsFactory)

        // Restored offsets: the union of every old subtask's splits; keep the ones this subtask owns now.
        let (restored, restoredFloors, restoredMaxTimestamps) = try KafkaSplitState.decode(context.restoredState)
        for (tp, max) in restoredMaxTimestamps { splitMaxTimestamps[tp.description] = max }

        var settings = KafkaConfiguration(bootstrapServers: configuration.bootstrapServers)
        settings.groupId = configuration.groupId
        settings.isolationLevel = .readCommitted
        settings.clientId = "sluice-source-\(subtaskIndex)"
        // Consumer lag per partition comes from librdkafka's statistics.
        settings.statisticsInterval = .milliseconds(1000)
        for (key, value) in configuration.consumerSettings { settings[key] = value }
        // librdkafka's default reset jumps to the latest offset silently (logged at debug): the
        // source handles an offset gone from the log itself, by its `offsetOutOfRange` policy.
        settings["auto.offset.reset"] = "error"
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
            if let offset = restored[tp], offset >= 0 { restoredStarts[tp] = offset }
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
    /// Per split, the largest event time it yielded: restored from the checkpoint until the
    /// source output (which keeps it up to date) is known, then taken from it at each snapshot.
    private var splitMaxTimestamps: [String: Int64] = [:]
    /// The output of the last poll (snapshots read the splits' largest event times from it).
    private var lastOutput: SourceOutput<Output>?

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
        lastOutput = output
        if !splitsToRegister.isEmpty {
            for split in splitsToRegister { output.registerSplit(split, restoredMaxTimestamp: splitMaxTimestamps[split]) }
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
        try rewindPartitions()
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
                if !restoredStarts.isEmpty, let expected = restoredStarts.removeValue(forKey: tp), record.offset > expected {
                    try checkRestoredStart(tp, expected: expected, firstRecord: record.offset)
                }
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
        case .offsetOutOfRange(let tp, let offset, let error):
            let restored = restoredStarts[tp] == offset
            restoredStarts[tp] = nil
            logger.debug("Kafka source subtask \(subtaskIndex): \(error)")
            let logStart = (try? consumer?.watermarks(tp, timeout: .seconds(5)).low) ?? -1
            try offsetGone(tp, offset: offset, logStart: logStart, restored: restored)
            partitionsToRewind.insert(tp)
        case .error(let error):
            if error.isFatal { throw KafkaSourceError.kafka(error, context: "consuming") }
            logger.debug("Kafka source subtask \(subtaskIndex): \(error)")
        }
    }

    /// The first record after a restore came after the restored offset. Transaction markers and
    /// aborted records leave such gaps in a log that still holds the offset; a log that starts
    /// after it lost the records in between (a broker that skips a deleted segment silently
    /// instead of answering OFFSET_OUT_OF_RANGE).
    private func checkRestoredStart(_ tp: TopicPartition, expected: Int64, firstRecord: Int64) throws {
        let held: Int64?
        do {
            held = try (firstOffsetHeld ?? makeLogProbe())(tp, expected)
        } catch {
            logger.warning("Kafka source subtask \(subtaskIndex): \(tp) restored at offset \(expected) started at \(firstRecord); could not check whether the log still holds \(expected): \(error)")
            return
        }
        guard let held, held > expected else { return }
        try offsetGone(tp, offset: expected, logStart: held, restored: true)
    }

    /// Applies the policy to an offset the log no longer holds: throws, or warns and counts.
    private func offsetGone(_ tp: TopicPartition, offset: Int64, logStart: Int64, restored: Bool) throws {
        let error = KafkaSourceError.offsetOutOfRange(
            topic: tp.topic, partition: tp.partition, offset: offset, logStart: logStart, restored: restored)
        switch configuration.offsetOutOfRange {
        case .fail:
            throw error
        case .earliest:
            offsetResets?.increment()
            logger.warning("Kafka source subtask \(subtaskIndex) goes on from the earliest offset as configured (--on-offset-out-of-range earliest); records in between are lost for this job. \(error)")
        }
    }

    /// Partitions whose position the log no longer holds start again at the earliest offset.
    private func rewindPartitions() throws {
        guard !partitionsToRewind.isEmpty, let consumer else { return }
        for tp in partitionsToRewind where nextOffsets[tp] != nil { nextOffsets[tp] = KafkaOffset.beginning }
        partitionsToRewind.removeAll()
        do {
            try consumer.assign(nextOffsets)
        } catch {
            throw KafkaSourceError.kafka(error, context: "reading again from the earliest offsets")
        }
    }

    /// Compaction also leaves gaps in a log that lost nothing (it removes whole batches): on a
    /// compacted topic (cleanup.policy contains `compact`) the probe answers nil, no verdict.
    /// The consumer has just read a record past `offset`, so the log is not empty there: a fetch that
    /// answers nothing (a loaded broker reading its storage slower than the fetch's wait) is asked
    /// again rather than taken as "no verdict", which would let a loss pass unreported.
    private func makeLogProbe() throws -> @Sendable (TopicPartition, Int64) throws -> Int64? {
        let security = try KafkaWireSecurity(properties: configuration.consumerSettings)
        // minBytes is 1, so a longer wait costs nothing when the broker has the records at hand.
        let reader = try TransactionAwareLogReader(
            bootstrap: configuration.bootstrapServers, options: LogReadOptions(maxWait: .milliseconds(500)),
            connection: KafkaConnectionOptions(security: security))
        var settings = KafkaConfiguration(bootstrapServers: configuration.bootstrapServers)
        for (key, value) in configuration.consumerSettings { settings[key] = value }
        let adminSettings = settings
        let probe: @Sendable (TopicPartition, Int64) throws -> Int64? = { tp, offset in
            let admin = try KafkaAdmin(configuration: adminSettings)
            defer { admin.close() }
            if try admin.describeTopicConfigs(tp.topic)["cleanup.policy"]?.contains("compact") == true { return nil }
            // Four tries that may answer nothing or fail (a timed-out fetch is asked again like an
            // empty one), then a last one whose answer or error stands.
            for _ in 1...4 {
                if let held = try? reader.firstOffsetHeld(in: tp, at: offset) { return held }
                Thread.sleep(forTimeInterval: 0.2)
            }
            return try reader.firstOffsetHeld(in: tp, at: offset)
        }
        firstOffsetHeld = probe
        return probe
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
        var maxTimestamps: [TopicPartition: Int64] = [:]
        for tp in nextOffsets.keys {
            let split = splitName(tp)
            if let max = lastOutput?.maxTimestamp(ofSplit: split) { splitMaxTimestamps[split] = max }
            if let max = splitMaxTimestamps[split] { maxTimestamps[tp] = max }
        }
        return try KafkaSplitState.encode(offsets: nextOffsets, floors: timestampFloors, maxTimestamps: maxTimestamps)
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
