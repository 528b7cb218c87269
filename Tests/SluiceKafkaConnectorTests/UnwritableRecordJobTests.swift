import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

/// The sink's unwritable-record policy in running jobs against the embedded broker: the at-least-once
/// sink dead-letters with the input record named, and behind a keyed exchange the error says that no
/// single input record is known and names the output's key and checkpoint instead.
extension ConnectorIntegrationTests {
    static let oversized = String(repeating: "x", count: 1_100_000)

    @Test func atLeastOnceSinkDeadLettersAnOversizedRecordNamingItsInput() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("unwritable-alo-in", partitions: 1)
        let output = try await ConnectorBroker.newTopic("unwritable-alo-out", partitions: 1)
        let deadLetters = try await ConnectorBroker.newTopic("unwritable-alo-dlq", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await produce(["a", "big", "b"].map { ProducerRecord(topic: input, partition: 0, value: Array($0.utf8)) }, bootstrap: bootstrap)
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("unwritable-alo", parallelism: 1, checkpointDirectory: directory))
            let sink = KafkaSinkConfiguration(
                bootstrapServers: bootstrap, topic: output, deliveryGuarantee: .atLeastOnce, unwritableRecords: .deadLetter(topic: deadLetters))
            env.fromSource(
                KafkaSource<String>(configuration: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("unwritable")),
                                    deserializer: textValue),
                name: "source")
            .map { $0 == "big" ? Self.oversized : $0 }
            .sinkTo(KafkaSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        let arrived = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (Set(try CommittedOutput.read(output, bootstrap: bootstrap).values) == ["a", "b"]
                && (try CommittedOutput.read(deadLetters, bootstrap: bootstrap).count) == 1)
        }
        _ = try await job.cancelled()
        #expect(arrived, "the output or the dead letter did not arrive within 30 s")
        let letter = try #require(try await readOutput(deadLetters, bootstrap: bootstrap).log.committedRecords.first)
        let headers = Dictionary(letter.headers.map { ($0.key, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 })
        #expect(headers["sluice.dlq.topic"] == input)
        #expect(headers["sluice.dlq.partition"] == "0")
        #expect(headers["sluice.dlq.offset"] == "1")
        #expect(headers["sluice.dlq.checkpoint"] == nil)
        #expect(letter.value == nil)
    }

    @Test func behindAKeyedExchangeTheErrorNamesWhatIsKnown() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("unwritable-keyed-in", partitions: 1)
        let output = try await ConnectorBroker.newTopic("unwritable-keyed-out", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await produce(["a", "big"].map { ProducerRecord(topic: input, partition: 0, value: Array($0.utf8)) }, bootstrap: bootstrap)
        let prefix = EmbeddedBroker.uniqueName("unwritable-keyed")
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("unwritable-keyed", parallelism: 1, checkpointDirectory: directory))
            env.fromSource(
                KafkaSource<String>(configuration: sourceConfiguration(bootstrap, topic: input, group: prefix), deserializer: textValue),
                name: "source")
            .keyBy { $0 }
            .map { $0 == "big" ? Self.oversized : $0 }
            .sinkTo(
                KafkaSink(configuration: exactlyOnceSinkConfiguration(bootstrap, topic: output, prefix: prefix),
                          serializer: { KafkaSinkRecord(key: Array("page-7".utf8), value: Array($0.utf8)) }),
                name: "sink")
            return env
        }
        let outcome = try await job.ended(timeout: 60)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return
        }
        let message = "\(error)"
        #expect(message.contains("Cannot write an output record to topic '\(output)' (no single input record"), "\(message.prefix(600))")
        #expect(message.contains("key 'page-7'"), "\(message.prefix(600))")
        #expect(message.contains("written in the transaction of checkpoint "), "\(message.prefix(600))")
        #expect(!message.contains(input), "\(message.prefix(600))")
    }
}
