import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime
import SluiceTestKit
import Testing
import SluiceKafkaWire

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
            .sinkTo(KafkaSink(configuration: sink, serializer: textRecord), name: "sink")
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

    /// Waits for the job to end and returns the error its failure wraps, recording an issue (and
    /// returning nil) when it did not fail or failed with something else than `E`.
    static func failure<E: Error>(of job: RunningJob, as _: E.Type, timeout: TimeInterval) async throws -> E? {
        let outcome = try await job.ended(timeout: timeout)
        guard case .failure(let error) = outcome else {
            Issue.record("the job did not fail: \(outcome)")
            return nil
        }
        let failure = try #require(error as? JobFailedError, "\(error)")
        guard let typed = failure.underlying as? E else {
            Issue.record("not a \(E.self): \(failure.underlying)")
            return nil
        }
        return typed
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
        guard let error = try await Self.failure(of: job, as: KafkaSourceError.self, timeout: 60) else { return }
        guard case .kafka(let kafkaError, let context) = error else {
            Issue.record("not a Kafka error: \(error)")
            return
        }
        #expect(Self.isUnreachable(kafkaError), "\(kafkaError)")
        #expect(context.contains("input"), "\(context)")
    }

    @Test func exactlyOnceSinkFailsWithATypedError() async throws {
        let job = RunningJob.start {
            let env = StreamExecutionEnvironment(runtimeConfiguration("eo-sink-down", parallelism: 1))
            let sink = KafkaSinkConfiguration(
                bootstrapServers: Self.nowhere, topic: "output", deliveryGuarantee: .exactlyOnce(prefix: "down"),
                producerSettings: ["reconnect.backoff.max.ms": "100"])
            env.fromCollection(["a", "b", "c"])
                .sinkTo(KafkaSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        guard let error = try await Self.failure(of: job, as: KafkaSinkError.self, timeout: 90) else { return }
        guard case .kafka(let kafkaError, let context) = error else {
            Issue.record("not a Kafka error: \(error)")
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
                .sinkTo(KafkaSink(configuration: sink, serializer: textRecord), name: "sink")
            return env
        }
        guard let error = try await Self.failure(of: job, as: KafkaSinkError.self, timeout: 60) else { return }
        guard case .deliveryFailed(let count, let first) = error else {
            Issue.record("not a delivery failure: \(error)")
            return
        }
        #expect(count == 3)
        #expect(first?.kind == .messageTimedOut || first.map(Self.isUnreachable) == true, "\(String(describing: first))")
    }
}
