import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime
import SluiceTestKit
import Testing

/// The marker value the test deserializer rejects.
let malformedMarker = "MALFORMED"

struct MalformedValue: Error, CustomStringConvertible {
    var description: String { "the value is the malformed marker" }
}

let strictTextValue: @Sendable (KafkaRecord) throws -> String? = { record in
    let text = record.valueString
    if text == malformedMarker { throw MalformedValue() }
    return text
}

/// Declares source → exactly-once sink with the given source settings.
func sourceJob(
    name: String, source: KafkaSourceConfiguration, deserializer: @escaping KafkaSource<String>.Deserializer = textValue,
    output: String, prefix: String, checkpointDirectory: String
) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment(runtimeConfiguration(name, parallelism: 2, checkpointDirectory: checkpointDirectory))
    env.fromSource(KafkaSource<String>(configuration: source, deserializer: deserializer), name: "source")
        .sinkTo(exactlyOnceSink(source.bootstrapServers, topic: output, prefix: prefix), name: "sink")
    return env
}

extension ConnectorIntegrationTests {
    /// The old records are written one per batch: the embedded broker answers ListOffsets(latest)
    /// with the last batch's base offset + 1, which is the true end only then (see the report).
    @Test func latestSkipsWhatWasThereBeforeTheJobStarted() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("latest-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("latest-out", partitions: 1)
        let group = EmbeddedBroker.uniqueName("latest-group")
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for i in 0..<20 {
            try await produce([ProducerRecord(topic: input, partition: Int32(i % 2), key: nil, value: "old-\(i)")], bootstrap: bootstrap)
        }

        let job = RunningJob.start {
            sourceJob(name: "latest", source: sourceConfiguration(bootstrap, topic: input, group: group, startingOffsets: .latest),
                      output: output, prefix: EmbeddedBroker.uniqueName("latest"), checkpointDirectory: directory)
        }
        // The source has resolved "latest" once a completed checkpoint put its positions into the group.
        let positioned = try await eventually(timeout: .seconds(30)) {
            if job.hasEnded { return true }
            let offsets = try committedGroupOffsets(bootstrap, group: group, topic: input, partitions: 2)
            return offsets[0] == 10 && offsets[1] == 10
        }
        #expect(positioned, "the source did not report positions 10/10 to its group")
        try await produce((0..<100).map { ProducerRecord(topic: input, partition: Int32($0 % 2), key: nil, value: "new-\($0)") },
                          bootstrap: bootstrap)
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= 100)
        }
        let result = try await job.cancelled()
        #expect(complete)
        #expect(result.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap), Set((0..<100).map { "new-\($0)" }))
    }

    /// Records in few large batches: the embedded broker answers ListOffsets(timestamp) with a
    /// batch's base offset, so this also proves the source skips up to the exact record itself.
    @Test func timestampStartsAtTheFirstRecordAtOrAfterIt() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("timestamp-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("timestamp-out", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Record i has timestamp base + 10 i; even i on partition 0, odd on partition 1.
        let base: Int64 = 1_700_000_000_000
        try await produce((0..<200).map {
            ProducerRecord(topic: input, partition: Int32($0 % 2), key: nil, value: "record-\($0)", timestamp: base + 10 * Int64($0))
        }, bootstrap: bootstrap)
        // Between records 100 and 101: partition 0 starts at record 102, partition 1 at record 101.
        let start = base + 1005
        let expected = Set((101..<200).map { "record-\($0)" })

        let job = RunningJob.start {
            sourceJob(name: "timestamp",
                      source: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("ts-group"),
                                                  startingOffsets: .timestamp(start)),
                      output: output, prefix: EmbeddedBroker.uniqueName("timestamp"), checkpointDirectory: directory)
        }
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= expected.count)
        }
        let result = try await job.cancelled()
        #expect(complete)
        #expect(result.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap), expected)
    }

    @Test func malformedRecordFailsTheJobNamingTopicPartitionAndOffset() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("malformed-fail-in", partitions: 1)
        let output = try await ConnectorBroker.newTopic("malformed-fail-out", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await produce((0..<20).map {
            ProducerRecord(topic: input, partition: 0, key: nil, value: $0 == 7 ? malformedMarker : "good-\($0)")
        }, bootstrap: bootstrap)

        let job = RunningJob.start {
            sourceJob(name: "malformed-fail",
                      source: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("mf-group"), malformed: .fail),
                      deserializer: strictTextValue, output: output, prefix: EmbeddedBroker.uniqueName("mf"),
                      checkpointDirectory: directory)
        }
        let outcome = try await job.ended(timeout: 60)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return
        }
        let failure = try #require(error as? JobFailedError, "\(error)")
        guard case .malformedRecord(let topic, let partition, let offset, let reason) = failure.underlying as? KafkaSourceError else {
            Issue.record("not a malformed-record error: \(failure.underlying)")
            return
        }
        #expect(topic == input)
        #expect(partition == 0)
        #expect(offset == 7)
        #expect(reason.contains("malformed marker"))
        let text = "\(failure.underlying)"
        #expect(text.contains("\(input)-0@7") && text.contains("MalformedRecordPolicy.skip"), "\(text)")
        // Nothing at or after the bad record was committed.
        let committed = try await readOutput(output, bootstrap: bootstrap)
        #expect(Set(committed.values).isSubset(of: Set((0..<7).map { "good-\($0)" })), "\(committed.values)")
    }

    @Test func malformedRecordIsSkippedAndEverythingElseArrivesOnce() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("malformed-skip-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("malformed-skip-out", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let values = (0..<1000).map { $0 % 250 == 7 ? malformedMarker : "good-\($0)" }
        try await produce(values.enumerated().map { ProducerRecord(topic: input, partition: Int32($0.offset % 2), key: nil, value: $0.element) },
                          bootstrap: bootstrap)
        let expected = Set(values.filter { $0 != malformedMarker })
        #expect(expected.count == 996)

        let job = RunningJob.start {
            sourceJob(name: "malformed-skip",
                      source: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("ms-group"), malformed: .skip),
                      deserializer: strictTextValue, output: output, prefix: EmbeddedBroker.uniqueName("ms"),
                      checkpointDirectory: directory)
        }
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= expected.count)
        }
        let result = try await job.cancelled()
        #expect(complete)
        #expect(result.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap), expected)
    }
}
