import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// The `sluice` commands that read the cluster themselves (`read`, `inject`) on SASL_SSL: TLS by
/// stunnel4 and SCRAM-SHA-512 by the test's SASL front, both before the embedded broker. Given the
/// client properties with -X they see what a read_committed reader should; without them they
/// fail quickly, so -X is what gets them through.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct SecuredCLITests {
    func sluice(_ arguments: [String], log: String) throws -> ChildProcess {
        try ChildProcess(executable: try BuiltProducts.path(of: "sluice"), arguments: arguments, logPath: log)
    }

    @Test func readWorksOverSaslSsl() throws {
        let setup = SecuredSetup.saslSslScram512
        let secured = try setup.start()
        defer { secured.stop() }
        let topic = EmbeddedBroker.uniqueName("secured-read")
        try secured.broker.createTopic(topic, partitions: 1)
        let properties = try setup.properties
        let producer = try securedProducer(bootstrap: secured.bootstrap, properties: properties)
        defer { producer.close() }
        try producer.beginTransaction()
        for index in 0..<3 { try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "s\(index)")) }
        try producer.commitTransaction(timeout: .seconds(30))
        try producer.beginTransaction()
        try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "aborted"))
        try producer.flush(timeout: .seconds(30))  // on the broker, so the abort has a record to hide
        try producer.abortTransaction(timeout: .seconds(30))
        let log = NSTemporaryDirectory() + "/\(topic)"

        let read = try sluice(["read", "--bootstrap", secured.bootstrap] + clientArguments(properties) + [topic, "--values", "--transactions"],
                              log: log + "-read.log")
        #expect(read.waitForExit(timeout: 30) == 0, "\(read.outputLines)")
        let lines = read.outputLines
        #expect(lines.contains { $0.contains("total: 3 committed records, 2 transactions") }, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("  @") }.map { $0.split(separator: " ").last.map(String.init) ?? "" } == ["s0", "s1", "s2"], "\(lines)")
        #expect(lines.contains { $0.hasSuffix("3 records, committed") } && lines.contains { $0.hasSuffix("1 records, aborted") }, "\(lines)")

        // Without the client properties, plaintext to the TLS port: refused at once, naming the likely cause.
        let plain = try sluice(["read", "--bootstrap", secured.bootstrap, topic], log: log + "-plain.log")
        let status = plain.waitForExit(timeout: 30)
        #expect(status != nil && status != 0, "\(plain.outputLines)")
        #expect(plain.outputLines.contains { $0.contains("TLS listener") }, "\(plain.outputLines)")
    }

    /// `sluice inject` on SASL_SSL: the click-count job (given the same -X) killed once and
    /// restarted, its output read and judged through the secured fronts.
    @Test func injectWorksOverSaslSsl() throws {
        let scenario = try ClickCountScenario("secured-inject", secured: .saslSslScram512)
        defer { scenario.tearDown() }
        try scenario.generate(windows: 3, rate: 8000, wait: false)
        let client = clientArguments(scenario.clientProperties)
        let job = [
            try BuiltProducts.path(of: "click-count-job"),
            "--bootstrap", scenario.bootstrap, "--input-topic", scenario.inputTopic, "--output-topic", scenario.outputTopic,
            "--checkpoint-dir", scenario.checkpointDirectory, "--checkpointing", "--event-time",
            "--transactional-id-prefix", scenario.transactionalIdPrefix, "--restart-attempts", "0",
        ] + client
        let run = try ChildProcess(
            executable: try BuiltProducts.path(of: "sluice"),
            arguments: ["inject", "--bootstrap", scenario.bootstrap] + client + [
                "--output-topic", scenario.outputTopic, "--expect-click-count", "3", "--kills", "1",
                "--min-interval", "1.5", "--max-interval", "2.5", "--settle-timeout", "60", "--log-dir", scenario.logDirectory, "--",
            ] + job,
            logPath: scenario.logDirectory + "/inject.log")
        let status = run.waitForExit(timeout: 180)
        if status == nil { run.kill() }
        #expect(status == 0, "sluice inject failed:\n\(run.outputLines.suffix(15).joined(separator: "\n"))")
        #expect(run.outputLines.contains { $0.hasPrefix("EXACT") }, "\(run.outputLines.suffix(10))")
        #expect(run.outputLines.filter { $0.contains("SIGKILL") }.count == 1, "\(run.outputLines.suffix(10))")
    }
}
