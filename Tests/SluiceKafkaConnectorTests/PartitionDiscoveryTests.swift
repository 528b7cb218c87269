import Foundation
import Synchronization
import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceRuntime
import SluiceTestKit
import Testing

extension ConnectorIntegrationTests {
    /// The embedded broker cannot add partitions to a topic, so the topic has two from the start and
    /// the metadata lookup reports only partition 0 until the test reveals partition 1: the source
    /// must then find it on its periodic discovery and read it from the earliest offset.
    @Test func discoversNewPartitionsPeriodically() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("discover-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("discover-out", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let revealed = Atomic<Bool>(false)
        let prefix = EmbeddedBroker.uniqueName("discover")
        try await produce((0..<50).map { ProducerRecord(topic: input, partition: 0, key: nil, value: "p0-\($0)") }, bootstrap: bootstrap)
        try await produce((0..<50).map { ProducerRecord(topic: input, partition: 1, key: nil, value: "p1-\($0)") }, bootstrap: bootstrap)

        let job = RunningJob.start {
            var configuration = sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("discover-group"))
            configuration.partitionDiscoveryInterval = .milliseconds(200)
            var source = KafkaSource<String>(configuration: configuration, deserializer: textValue)
            source.partitionLister = { _ in revealed.load(ordering: .acquiring) ? [0, 1] : [0] }
            let env = StreamExecutionEnvironment(runtimeConfiguration("discover", parallelism: 1, checkpointDirectory: directory))
            env.fromSource(source, name: "source")
                .sinkTo(exactlyOnceSink(bootstrap, topic: output, prefix: prefix), name: "sink")
            return env
        }
        let firstPartitionDone = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= 50)
        }
        #expect(firstPartitionDone)
        // Only partition 0 is known so far: nothing of partition 1 may have been read.
        #expect(try await readOutput(output, bootstrap: bootstrap).values.allSatisfy { $0.hasPrefix("p0-") })

        revealed.store(true, ordering: .releasing)
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= 100)
        }
        let result = try await job.cancelled()
        #expect(complete)
        #expect(result.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap),
                          Set((0..<50).map { "p0-\($0)" } + (0..<50).map { "p1-\($0)" }))
    }
}
