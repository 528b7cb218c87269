import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

/// Every test that runs jobs against the embedded broker. Serialized: the machine has two cores,
/// and jobs running side by side would only slow each other down.
@Suite("Kafka connector against the embedded broker", .serialized)
struct ConnectorIntegrationTests {}

/// Declares source → map → exactly-once sink; `throttle` slows the map so transactions are in
/// flight when the test cancels.
func passThroughJob(
    name: String, bootstrap: String, input: String, output: String, group: String, prefix: String,
    checkpointDirectory: String, throttle: Bool = false
) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment(runtimeConfiguration(name, parallelism: 2, checkpointDirectory: checkpointDirectory))
    env.fromSource(
        KafkaSource<String>(configuration: sourceConfiguration(bootstrap, topic: input, group: group), deserializer: textValue),
        name: "source"
    )
    .map(name: "map") { value -> String in
        if throttle, value.hasSuffix("0") { Thread.sleep(forTimeInterval: 0.002) }
        return "mapped-\(value)"
    }
    .sinkTo(exactlyOnceSink(bootstrap, topic: output, prefix: prefix), name: "sink")
    return env
}

extension ConnectorIntegrationTests {
    @Test func passThroughIsExactlyOnce() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("pass-in", partitions: 3)
        let output = try await ConnectorBroker.newTopic("pass-out", partitions: 2)
        let count = 20_000
        try await produce((0..<count).map { ProducerRecord(topic: input, key: "key-\($0 % 101)", value: "value-\($0)") }, bootstrap: bootstrap)
        let expected = Set((0..<count).map { "mapped-value-\($0)" })
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let job = RunningJob.start {
            passThroughJob(name: "pass-through", bootstrap: bootstrap, input: input, output: output,
                           group: EmbeddedBroker.uniqueName("pass-group"), prefix: EmbeddedBroker.uniqueName("pass"),
                           checkpointDirectory: directory)
        }
        let complete = try await eventually {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= count)
        }
        let result = try await job.cancelled()
        #expect(complete, "the job did not commit \(count) records within 60 s")
        #expect(result.status == .cancelled)
        #expect(result.restarts == 0)

        let committed = try await readOutput(output, bootstrap: bootstrap)
        expectExactlyOnce(committed, expected)
        // Everything visible came from committed transactions of the sink.
        #expect(committed.log.committedRecords.allSatisfy { $0.isTransactional })
        #expect(committed.log.transactions.contains { $0.state == .committed })
    }

    /// A new environment on the same checkpoint directory resumes from the checkpoint's offsets and
    /// commits what the previous run left pre-committed; the consumer group's offsets are written
    /// for monitoring but never read back.
    @Test func restoresFromTheCheckpointNotFromTheGroup() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("restore-in", partitions: 3)
        let output = try await ConnectorBroker.newTopic("restore-out", partitions: 2)
        let group = EmbeddedBroker.uniqueName("restore-group")
        let prefix = EmbeddedBroker.uniqueName("restore")
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let firstHalf = 10_000
        let total = 20_000
        try await produce((0..<firstHalf).map { ProducerRecord(topic: input, key: "key-\($0 % 101)", value: "value-\($0)") }, bootstrap: bootstrap)

        // Run 1: throttled, cancelled once some output is committed and the group has offsets.
        let first = RunningJob.start {
            passThroughJob(name: "restore-1", bootstrap: bootstrap, input: input, output: output, group: group,
                           prefix: prefix, checkpointDirectory: directory, throttle: true)
        }
        let progressed = try await eventually {
            if first.hasEnded { return true }
            guard try CommittedOutput.read(output, bootstrap: bootstrap).count > 0 else { return false }
            return try committedGroupOffsets(bootstrap, group: group, topic: input, partitions: 3).values.contains { $0 > 0 }
        }
        let firstResult = try await first.cancelled()
        #expect(progressed, "run 1 committed no output or no group offsets within 60 s")
        #expect(firstResult.status == .cancelled)
        #expect(firstResult.lastCompletedCheckpoint != nil)
        // Offsets went to the group after checkpoints (monitoring): valid positions within the input.
        let groupOffsets = try await onOwnThread { try committedGroupOffsets(bootstrap, group: group, topic: input, partitions: 3) }
        #expect(groupOffsets.values.contains { $0 > 0 }, "\(groupOffsets)")
        #expect(groupOffsets.values.allSatisfy { $0 <= Int64(firstHalf) }, "\(groupOffsets)")
        let afterFirst = try await readOutput(output, bootstrap: bootstrap)
        #expect(afterFirst.count < total)
        #expect(afterFirst.duplicates.isEmpty)

        // More input while the job is down, then bogus group offsets: "everything was read".
        try await produce((firstHalf..<total).map { ProducerRecord(topic: input, key: "key-\($0 % 101)", value: "value-\($0)") },
                          bootstrap: bootstrap)
        let (bogus, committedBogus) = try await onOwnThread {
            var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
            configuration.groupId = group
            let consumer = try KafkaConsumer(configuration: configuration)
            defer { consumer.close() }
            var bogus: [TopicPartition: Int64] = [:]
            for partition in Int32(0)..<3 {
                let tp = TopicPartition(input, partition)
                // The Fetch-based high watermark (the embedded broker answers ListOffsets wrongly).
                bogus[tp] = try TransactionAwareLogReader(bootstrap: bootstrap)
                    .readPartition(TopicPartition(input, partition), from: 0, to: 0).highWatermark
            }
            try consumer.commit(offsets: bogus)
            return (bogus, try consumer.committed(Array(bogus.keys)))
        }
        #expect(committedBogus == bogus)
        #expect(bogus.values.reduce(0, +) == Int64(total))

        // Run 2: a new environment on the same checkpoint directory.
        let second = RunningJob.start {
            passThroughJob(name: "restore-2", bootstrap: bootstrap, input: input, output: output, group: group,
                           prefix: prefix, checkpointDirectory: directory)
        }
        let complete = try await eventually {
            try second.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= total)
        }
        let secondResult = try await second.cancelled()
        #expect(complete, "run 2 did not bring the output to \(total) records within 60 s")
        #expect(secondResult.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap), Set((0..<total).map { "mapped-value-\($0)" }))
    }
}
