import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

/// What a librdkafka read_committed consumer is given of `topic` (partition 0) within `limit`:
/// the values below the last stable offset (the embedded broker also hands out aborted records).
func readCommittedValues(_ topic: String, bootstrap: String, until enough: ([String]) -> Bool, limit: Duration) throws -> [String] {
    var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
    configuration.isolationLevel = .readCommitted
    let consumer = try KafkaConsumer(configuration: configuration)
    defer { consumer.close() }
    try consumer.assign([TopicPartition(topic, 0): KafkaOffset.beginning])
    var values: [String] = []
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline && !enough(values) {
        values += try consumer.pollRecords(timeout: .milliseconds(200)).compactMap(\.valueString)
    }
    return values
}

/// Lingering transactions after a fresh start (issue 13.7): a run at parallelism 4 was SIGKILLed
/// with transactions open, the checkpoint directory is gone, the job starts at parallelism 2.
extension ConnectorIntegrationTests {
    /// The killed run's open transactions are reproduced as the broker sees them: producers of the
    /// ids of old subtasks 2 and 3 began a transaction, wrote, and never end it (the test holds
    /// them until the end, so nothing aborts them on close). On the embedded broker such a
    /// transaction holds the last stable offset back until it is aborted.
    @Test func aFreshStartAtLowerParallelismAbortsTheHigherSubtasksTransactions() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("lingering-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("lingering-out", partitions: 1)
        let prefix = EmbeddedBroker.uniqueName("lingering")
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await produce((0..<40).map { ProducerRecord(topic: input, partition: Int32($0 % 2), key: nil, value: "new-\($0)") }, bootstrap: bootstrap)

        let leftovers = try await onOwnThread { () -> [KafkaTransactionalProducer] in
            try [2, 3].map { subtask in
                var settings = KafkaConfiguration(bootstrapServers: bootstrap)
                settings.transactionalId = "\(prefix)-\(subtask)-0"
                let producer = try KafkaTransactionalProducer(configuration: settings)
                try producer.initTransactions(timeout: .seconds(30))
                try producer.beginTransaction()
                try producer.produce(ProducerRecord(topic: output, partition: 0, key: nil, value: "left-open-by-\(subtask)"))
                try producer.flush(timeout: .seconds(30))
                return producer
            }
        }
        defer { for producer in leftovers { producer.close() } }

        let job = RunningJob.start {
            var sink = exactlyOnceSinkConfiguration(bootstrap, topic: output, prefix: prefix)
            sink.maxParallelism = 4
            let env = StreamExecutionEnvironment(runtimeConfiguration("lingering", parallelism: 2, checkpointDirectory: directory))
            env.fromSource(KafkaSource<String>(configuration: sourceConfiguration(bootstrap, topic: input, group: prefix), deserializer: textValue),
                           name: "source")
                .sinkTo(KafkaSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        let seen = try await onOwnThread {
            try readCommittedValues(output, bootstrap: bootstrap, until: { $0.filter { $0.hasPrefix("new-") }.count >= 40 }, limit: .seconds(30))
        }
        let ended = job.hasEnded
        let result = try await job.cancelled()
        #expect(!ended, "the job ended on its own: \(result.status)")
        #expect(Set(seen.filter { $0.hasPrefix("new-") }) == Set((0..<40).map { "new-\($0)" }),
                "a read_committed consumer saw \(seen.count) records: \(seen.prefix(5))")
        // The leftovers were aborted, not committed.
        let committed = try await readOutput(output, bootstrap: bootstrap)
        #expect(!committed.values.contains { $0.hasPrefix("left-open") }, "\(committed.values.filter { $0.hasPrefix("left-open") })")
        #expect(committed.log.transactions.filter { $0.state == .open }.isEmpty, "\(committed.log.transactions.filter { $0.state == .open })")
    }
}
