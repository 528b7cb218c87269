import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

extension ConnectorIntegrationTests {
    /// `MalformedRecordPolicy.deadLetter`: the good records arrive exactly once, and each malformed one
    /// is in the dead-letter topic unchanged, with headers naming its topic, partition, offset and error.
    @Test func malformedRecordsGoToTheDeadLetterTopicAndEverythingElseArrivesOnce() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let input = try await ConnectorBroker.newTopic("dlq-in", partitions: 2)
        let output = try await ConnectorBroker.newTopic("dlq-out", partitions: 1)
        let deadLetters = try await ConnectorBroker.newTopic("dlq-dead", partitions: 1)
        let directory = temporaryCheckpointDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let values = (0..<600).map { $0 % 150 == 7 ? malformedMarker : "good-\($0)" }
        try await produce(values.enumerated().map {
            ProducerRecord(topic: input, partition: Int32($0.offset % 2), key: Array("k\($0.offset)".utf8), value: Array($0.element.utf8))
        }, bootstrap: bootstrap)
        let expected = Set(values.filter { $0 != malformedMarker })
        // Indices 7, 157, 307, 457: odd, so all in partition 1, at offsets 3, 78, 153, 228.
        let malformedKeys = ["k7", "k157", "k307", "k457"]

        let job = RunningJob.start {
            sourceJob(name: "dlq",
                      source: sourceConfiguration(bootstrap, topic: input, group: EmbeddedBroker.uniqueName("dlq-group"),
                                                  malformed: .deadLetter(topic: deadLetters)),
                      deserializer: strictTextValue, output: output, prefix: EmbeddedBroker.uniqueName("dlq"),
                      checkpointDirectory: directory)
        }
        let complete = try await eventually(timeout: .seconds(30)) {
            try job.hasEnded || (try CommittedOutput.read(output, bootstrap: bootstrap).count >= expected.count
                && CommittedOutput.read(deadLetters, bootstrap: bootstrap).count >= malformedKeys.count)
        }
        let result = try await job.cancelled()
        #expect(complete)
        #expect(result.status == .cancelled)
        expectExactlyOnce(try await readOutput(output, bootstrap: bootstrap), expected)

        let dead = try await readOutput(deadLetters, bootstrap: bootstrap).log.committedRecords
        #expect(dead.map { String(decoding: $0.key ?? [], as: UTF8.self) }.sorted() == malformedKeys.sorted())
        #expect(dead.allSatisfy { $0.value == Array(malformedMarker.utf8) })
        func header(_ record: CommittedRecord, _ name: String) -> String? {
            record.headers.first { $0.key == name }?.value.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(Set(dead.compactMap { header($0, "sluice.dlq.offset") }) == ["3", "78", "153", "228"])
        #expect(dead.allSatisfy { header($0, "sluice.dlq.topic") == input && header($0, "sluice.dlq.partition") == "1" })
        #expect(dead.allSatisfy { header($0, "sluice.dlq.error")?.contains("malformed marker") == true })
    }
}
