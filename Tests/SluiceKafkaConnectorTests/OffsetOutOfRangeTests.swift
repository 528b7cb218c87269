import Foundation
import Logging
import Metrics
import SluiceKafka
@testable import SluiceKafkaConnector
@testable import SluiceRuntime
import SluiceTestKit
import Testing

/// The values a reader under test emitted.
final class CollectedValues: Output<String> {
    var values: [String] = []
    override func collect(_ value: String, timestamp: Int64?) throws { values.append(value) }
}

/// One source subtask driven by the test itself (no job): opened with `restored` split positions.
final class ReaderUnderTest {
    let reader: KafkaSourceReader<String>
    let collected = CollectedValues()
    let output: SourceOutput<String>

    init(_ configuration: KafkaSourceConfiguration, restored: [TopicPartition: Int64],
         restoredMaxTimestamps: [TopicPartition: Int64] = [:], watermarks: SplitWatermarkMultiplexer? = nil) throws {
        reader = try KafkaSource<String>(configuration: configuration, deserializer: textValue).createReader(subtaskIndex: 0)
        output = SourceOutput(output: collected, watermarks: watermarks, timestampAssigner: nil, clock: SystemClock())
        let state = try KafkaSplitState.encode(offsets: restored, floors: [:], maxTimestamps: restoredMaxTimestamps)
        try reader.open(SourceReaderContext(
            subtaskIndex: 0, parallelism: 1, restoredState: state, restoredCheckpointId: restored.isEmpty ? nil : 1,
            logger: testLogger(), metricDimensions: [], metricsFactory: NOOPMetricsHandler.instance, clock: SystemClock(),
            requestCheckpoint: {}))
    }

    /// Polls until `count` values came, the reader threw (returned), or `limit` passed.
    func poll(until count: Int, limit: Duration = .seconds(15)) -> (any Error)? {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline && collected.values.count < count {
            do { _ = try reader.pollNext(output) } catch { return error }
        }
        return nil
    }

    deinit { try? reader.close() }
}

/// A position the log no longer holds (issue 13.5). librdkafka's default reset jumps to the latest
/// offset silently; the source must fail naming partition, offset and log start, or, when the
/// operator chose `earliest`, go on from the earliest offset with a warning.
@Suite("Offsets gone from the log")
struct OffsetOutOfRangeTests {
    static let kafkaOffsetOutOfRange: Int32 = 1

    /// librdkafka's mock cluster answers the next fetches with OFFSET_OUT_OF_RANGE, as Kafka does
    /// for an offset below the log start (the embedded broker cannot: it has no DeleteRecords).
    static func mockWithRecords(_ topic: String, count: Int) throws -> KafkaMockCluster {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic(topic, partitions: 1)
        try produce((0..<count).map { ProducerRecord(topic: topic, partition: 0, key: nil, value: "r\($0)") }, bootstrap: cluster.bootstrap)
        return cluster
    }

    static func configuration(_ bootstrap: String, topic: String, policy: OffsetOutOfRangePolicy) -> KafkaSourceConfiguration {
        var configuration = sourceConfiguration(bootstrap, topic: topic, group: "offset-range")
        configuration.offsetOutOfRange = policy
        return configuration
    }

    @Test func aRestoredOffsetGoneFromTheLogFailsNamingPartitionOffsetAndLogStart() async throws {
        let (error, values) = try await onOwnThread { () -> (String?, [String]) in
            let cluster = try Self.mockWithRecords("gone", count: 10)
            cluster.failNextRequests(apiKey: KafkaMockCluster.fetchApiKey, codes: [Self.kafkaOffsetOutOfRange])
            let reader = try ReaderUnderTest(Self.configuration(cluster.bootstrap, topic: "gone", policy: .fail),
                                             restored: [TopicPartition("gone", 0): 5])
            let error = reader.poll(until: 1)
            return (error.map { "\($0)" }, reader.collected.values)
        }
        let text = try #require(error, "the reader went on without an error; it read \(values)")
        #expect(text.contains("Partition gone-0: the restored offset 5 is no longer in the log (the log now starts at offset 0)"), "\(text)")
        #expect(text.contains("--on-offset-out-of-range earliest"), "\(text)")
        #expect(values.isEmpty, "\(values)")
    }

    @Test func earliestGoesOnFromTheFirstOffsetTheLogHolds() async throws {
        let (error, values) = try await onOwnThread { () -> (String?, [String]) in
            let cluster = try Self.mockWithRecords("gone-earliest", count: 10)
            cluster.failNextRequests(apiKey: KafkaMockCluster.fetchApiKey, codes: [Self.kafkaOffsetOutOfRange])
            let reader = try ReaderUnderTest(Self.configuration(cluster.bootstrap, topic: "gone-earliest", policy: .earliest),
                                             restored: [TopicPartition("gone-earliest", 0): 5])
            let error = reader.poll(until: 10)
            return (error.map { "\($0)" }, reader.collected.values)
        }
        #expect(error == nil, "\(error ?? "")")
        #expect(values == (0..<10).map { "r\($0)" })
    }

    /// A restored offset may point at a transaction marker: the first record then comes later
    /// although nothing is missing. The check must ask the log, not fail on the gap.
    @Test func aGapOfTransactionMarkersIsNotAMissingOffset() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let topic = try await ConnectorBroker.newTopic("marker-gap", partitions: 1)
        let (error, values) = try await onOwnThread { () -> (String?, [String]) in
            var settings = KafkaConfiguration(bootstrapServers: bootstrap)
            settings.transactionalId = EmbeddedBroker.uniqueName("marker-gap")
            let producer = try KafkaTransactionalProducer(configuration: settings)
            defer { producer.close() }
            try producer.initTransactions(timeout: .seconds(30))
            for batch in 0..<2 {
                try producer.beginTransaction()
                for i in 0..<3 { try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "t\(batch)-\(i)")) }
                try producer.commitTransaction(timeout: .seconds(30))
            }
            // Offsets 0-2 records, 3 the first COMMIT marker, 4-6 records, 7 the second marker.
            let reader = try ReaderUnderTest(Self.configuration(bootstrap, topic: topic, policy: .fail),
                                             restored: [TopicPartition(topic, 0): 3])
            let error = reader.poll(until: 3)
            return (error.map { "\($0)" }, reader.collected.values)
        }
        #expect(error == nil, "\(error ?? "")")
        #expect(values == ["t1-0", "t1-1", "t1-2"])
    }
    /// The embedded broker on S3 storage, its partition's first segment object deleted: a fetch at
    /// the restored offset 0 silently returns the records from 5 (no OFFSET_OUT_OF_RANGE). The
    /// first record after the restore is past the restored offset and the log no longer holds it.
    @Test func aRestoredOffsetTheBrokerSkipsSilentlyIsReportedTheSameWay() async throws {
        let (error, values, objects) = try await Self.readAfterLosingTheFirstSegment(configs: [:])
        try #require(objects.count == 2, "storage objects: \(objects)")
        let text = try #require(error, "the reader went on without an error; it read \(values)")
        #expect(text.contains("Partition TOPIC-0: the restored offset 0 is no longer in the log (the log now starts at offset 5)"), "\(text)")
        #expect(values.isEmpty, "\(values)")
    }

    /// Compaction removes whole batches from a log that lost nothing: on a compacted topic a gap is
    /// no evidence, so the check gives no verdict and the source reads on.
    @Test func aGapInACompactedTopicIsNotReported() async throws {
        let (error, values, objects) = try await Self.readAfterLosingTheFirstSegment(configs: ["cleanup.policy": "compact"])
        try #require(objects.count == 2, "storage objects: \(objects)")
        #expect(error == nil, "\(error ?? "")")
        #expect(values == (0..<5).map { "b\($0)" })
    }

    /// Writes two batches (a0-a4, b0-b4) to a topic of a durable broker, deletes the storage object
    /// of the first, and reads with a source restored at offset 0: the error (topic replaced by
    /// TOPIC), the values read, and the storage objects found.
    static func readAfterLosingTheFirstSegment(configs: [String: String]) async throws -> (String?, [String], [String]) {
        try await onOwnThread { () -> (String?, [String], [String]) in
            let broker = try DurableEmbeddedBroker.start()
            defer { broker.stop() }
            let topic = EmbeddedBroker.uniqueName("skipped")
            try broker.createTopic(topic, partitions: 1, configs: ["retention.ms": "-1", "retention.bytes": "-1"].merging(configs) { $1 })
            // Two acknowledged produce calls: two record batches, two storage objects.
            try produce((0..<5).map { ProducerRecord(topic: topic, partition: 0, key: nil, value: "a\($0)") }, bootstrap: broker.bootstrap)
            try produce((0..<5).map { ProducerRecord(topic: topic, partition: 0, key: nil, value: "b\($0)") }, bootstrap: broker.bootstrap)
            // clusters/<cluster>/topics/<topic>/partitions/0000000000/records/<base offset>.batch
            let fragment = "/topics/\(topic)/partitions/0000000000/records/"
            var objects: [String] = []
            _ = try waitUntil(timeout: .seconds(10)) {
                objects = try broker.storageObjects(containing: fragment)
                return objects.count >= 2
            }
            if objects.count != 2 { return (nil, [], objects + ["all:"] + ((try? broker.storageObjects(containing: "/")) ?? [])) }
            // Object names carry the batch's base offset: the shortest, then lowest, is the first.
            guard let first = objects.min(by: { ($0.count, $0) < ($1.count, $1) }) else { return (nil, [], objects) }
            try broker.deleteStorageObject(first)
            let reader = try ReaderUnderTest(configuration(broker.bootstrap, topic: topic, policy: .fail),
                                             restored: [TopicPartition(topic, 0): 0])
            let error = reader.poll(until: 5, limit: .seconds(10))
            return (error.map { "\($0)" }.map { $0.replacingOccurrences(of: topic, with: "TOPIC") }, reader.collected.values, objects)
        }
    }
}
