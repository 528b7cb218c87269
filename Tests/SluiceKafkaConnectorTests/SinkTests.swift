import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime
import SluiceTestKit
import Testing

extension ConnectorIntegrationTests {
    @Test func atLeastOnceSinkDeliversEveryRecord() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("alo-in", partitions: 3)
        let output = try await ConnectorBroker.newTopic("alo-out", partitions: 2)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let count = 5000
        try await produce((0..<count).map { ProducerRecord(topic: input, key: "key-\($0 % 31)", value: "value-\($0)") }, bootstrap: bootstrap)
        let expected = Set((0..<count).map { "value-\($0)" })

        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("at-least-once", parallelism: 2, checkpointDirectory: directory))
            let sink = KafkaSinkConfiguration(bootstrapServers: bootstrap, topic: output, deliveryGuarantee: .atLeastOnce)
            env.fromSource(
                KafkaSource<String>(configuration: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("alo")),
                                    deserializer: textValue),
                name: "source"
            )
            .sinkTo(KafkaAtLeastOnceSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || Set(try CommittedOutput.read(output, bootstrap: bootstrap).values).isSuperset(of: expected)
        }
        let result = try await job.cancelled()
        #expect(complete, "not every record arrived within 30 s")
        #expect(result.status == .cancelled)
        let written = try await readOutput(output, bootstrap: bootstrap)
        let counts = written.counts
        #expect(expected.subtracting(counts.keys).isEmpty)
        #expect(Set(counts.keys).subtracting(expected).isEmpty)
        // No transactions: the at-least-once sink writes with an idempotent producer.
        #expect(written.log.committedRecords.allSatisfy { !$0.isTransactional })
    }
}

/// Jobs pointed at an address where no broker listens end with a typed error, never hang. Not
/// serialized with the broker tests: they mostly wait, so they overlap with the rest.
@Suite("Broker down")
struct BrokerDownTests {
    static let nowhere = "127.0.0.1:1"

    static func isUnreachable(_ error: KafkaError) -> Bool {
        error.kind == .brokerUnreachable || error.kind == .timedOut
    }

    @Test func sourceFailsWithATypedError() async throws {
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("source-down", parallelism: 1))
            var source = sourceConfiguration(Self.nowhere, topic: "input", group: "down")
            source.consumerSettings = ["reconnect.backoff.max.ms": "100"]
            env.fromSource(KafkaSource<String>(configuration: source, deserializer: textValue), name: "source")
                .sinkTo(DiscardingSink<String>(), name: "sink")
            return env
        }
        let outcome = try await job.ended(timeout: 60)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return
        }
        let failure = try #require(error as? JobFailedError, "\(error)")
        guard case .kafka(let kafkaError, let context) = failure.underlying as? KafkaSourceError else {
            Issue.record("not a Kafka source error: \(failure.underlying)")
            return
        }
        #expect(Self.isUnreachable(kafkaError), "\(kafkaError)")
        #expect(context.contains("input"), "\(context)")
    }

    @Test func exactlyOnceSinkFailsWithATypedError() async throws {
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("eo-sink-down", parallelism: 1))
            let sink = KafkaSinkConfiguration(
                bootstrapServers: Self.nowhere, topic: "output", transactionalIdPrefix: "down",
                producerSettings: ["reconnect.backoff.max.ms": "100"])
            env.fromCollection(["a", "b", "c"])
                .sinkTo(KafkaExactlyOnceSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        let outcome = try await job.ended(timeout: 90)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return
        }
        let failure = try #require(error as? JobFailedError, "\(error)")
        guard case .kafka(let kafkaError, let context) = failure.underlying as? KafkaSinkError else {
            Issue.record("not a Kafka sink error: \(failure.underlying)")
            return
        }
        #expect(Self.isUnreachable(kafkaError), "\(kafkaError)")
        #expect(context.contains("down-0-0"), "\(context)")
    }

    @Test func atLeastOnceSinkFailsWithATypedError() async throws {
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("alo-sink-down", parallelism: 1))
            // The flush at end of input waits for every record's fate; bound it.
            let sink = KafkaSinkConfiguration(
                bootstrapServers: Self.nowhere, topic: "output", deliveryGuarantee: .atLeastOnce,
                producerSettings: ["reconnect.backoff.max.ms": "100", "message.timeout.ms": "3000"])
            env.fromCollection(["a", "b", "c"])
                .sinkTo(KafkaAtLeastOnceSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        let outcome = try await job.ended(timeout: 60)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return
        }
        let failure = try #require(error as? JobFailedError, "\(error)")
        guard case .deliveryFailed(let count, let first) = failure.underlying as? KafkaSinkError else {
            Issue.record("not a delivery failure: \(failure.underlying)")
            return
        }
        #expect(count == 3)
        #expect(first?.kind == .messageTimedOut || first.map(Self.isUnreachable) == true, "\(String(describing: first))")
    }
}
