import Foundation
import SluiceClickCount
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Malformed events in the click-count input, end to end: with --dead-letter-topic the job skips
/// them, counts them, and writes them to the dead-letter topic; every window is still exact.
/// (Failing the job on them, the default, is tested in SluiceKafkaConnectorTests.)
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MalformedEventsTests {
    @Test func malformedEventsGoToTheDeadLetterTopicAndTheWindowsStayExact() throws {
        let scenario = try ClickCountScenario("malformed")
        defer { scenario.tearDown() }
        let deadLetterTopic = EmbeddedBroker.uniqueName("dead-letters")
        try scenario.broker.createTopic(deadLetterTopic, partitions: 1, configs: ["retention.ms": "-1", "retention.bytes": "-1"])
        let bad = ["not json", "{\"page\":\"/help\"}", "{\"timestamp\":\"yesterday\",\"page\":\"/news\"}"]
        var configuration = KafkaConfiguration(bootstrapServers: scenario.broker.bootstrap)
        configuration.enableIdempotence = true
        let producer = try KafkaProducer(configuration: configuration)
        for (index, value) in bad.enumerated() {
            try producer.produce(ProducerRecord(topic: scenario.inputTopic, partition: Int32(index % 2), value: Array(value.utf8)))
        }
        try producer.flush(timeout: .seconds(10))
        producer.close()

        let windows = 4
        try scenario.generate(windows: windows, rate: 8000, wait: false)
        let job = try scenario.startJob(extraArguments: ["--dead-letter-topic", deadLetterTopic])
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 60)
        #expect(verdict.isExact, "\(verdict)")
        job.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact)
        let dead = try TransactionAwareLogReader(bootstrap: scenario.broker.bootstrap).readTopic(deadLetterTopic).committedRecords
        #expect(Set(dead.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }) == Set(bad))
        #expect(scenario.jobLog(1).contains("goes to dead-letter topic"))
    }
}
