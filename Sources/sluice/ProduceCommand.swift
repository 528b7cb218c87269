import ArgumentParser
import Foundation
import SluiceKafka

/// `sluice produce`: writes the lines of a file to a topic, one record per line, spread over the
/// partitions in turn, so each partition keeps the file's order (event-time examples rely on it).
struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Writes each line of a file (or standard input) to a topic as one record.",
        discussion: """
            Line i goes to partition i mod P of the topic's P partitions, so every partition holds its lines in the \
            file's order. Records have no key; the idempotent producer writes each line once. --rate paces the lines \
            (lines per second), so a job can be killed while its input still flows.
            """)

    @OptionGroup var kafka: BootstrapOption
    @Option(help: "The topic to write to (it must exist: `sluice broker --topic NAME:PARTITIONS` creates topics).")
    var topic: String
    @Option(help: "The file to read; default: standard input.") var file: String?
    @Option(help: "Lines per second; 0 writes as fast as possible.") var rate: Double = 0

    func run() throws {
        let bootstrap = try kafka.resolved()
        let text: String
        if let file {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("Cannot read \(file).")
            }
            text = contents
        } else {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
        let partitions = Int32(try admin.describeTopic(topic).partitions.count)
        admin.close()
        var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
        configuration.enableIdempotence = true
        configuration.linger = .milliseconds(5)
        let producer = try KafkaProducer(configuration: configuration, deliveryReports: .collectFailures)
        let start = Date()
        for (index, line) in lines.enumerated() {
            if rate > 0 {
                let due = start.addingTimeInterval(Double(index) / rate)
                if due > Date() { Thread.sleep(until: due) }
            }
            try producer.produce(ProducerRecord(topic: topic, partition: Int32(index) % partitions, value: Array(line.utf8)))
        }
        try producer.flush(timeout: .seconds(60))
        let failures = producer.drainDeliveryReports().filter { $0.error != nil }
        producer.close()
        guard failures.isEmpty else {
            throw ValidationError("\(failures.count) of \(lines.count) records were not delivered to \(topic) (first: \(failures[0].error.map { "\($0)" } ?? "?")).")
        }
        print("wrote \(lines.count) records to \(topic) (\(partitions) partitions)")
    }
}
