// The click-event generator of Flink's operations playground: the same deterministic sequence,
// written to Kafka (no key), at the playground's pace or faster.
import ArgumentParser
import Foundation
import SluiceClickCount
import SluiceKafka

@main
struct ClickGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "click-generator",
        abstract: "Writes the playground's click events to a Kafka topic.",
        discussion: """
            Pages go round-robin (/help /index /shop /jobs /about /news); every page has exactly 1000 events in \
            every 15 s event-time window. --rate 500 is the playground's pace (2 ms per record).
            """)

    @Option(name: [.customLong("bootstrap"), .customLong("bootstrap.servers")], help: "Kafka bootstrap servers (host:port).")
    var bootstrap = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] ?? "localhost:9092"
    @Option(help: "Topic to write to.") var topic = "input"
    @Option(help: "Events per second; 0 writes as fast as possible.") var rate: Double = 500
    @Option(help: "Stop after this many complete windows (plus --tail events so the last one closes); 0 runs forever.")
    var windows = 0
    @Option(help: "Events written after the last complete window, so the job's watermark passes its end.")
    var tail = 600
    @Option(help: "Index of the first event (to continue an earlier run).") var startIndex: Int64 = 0
    @Option(help: "A file of librdkafka properties (key=value lines), e.g. security.protocol, sasl.username.")
    var clientConfig: String?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable; overrides --client-config).")
    var properties: [String] = []

    func run() throws {
        var configuration = KafkaConfiguration(
            bootstrapServers: bootstrap, try KafkaClientProperties.load(file: clientConfig, overrides: properties))
        configuration.clientId = "click-generator"
        configuration.linger = .milliseconds(5)
        configuration.enableIdempotence = true
        let producer = try KafkaProducer(configuration: configuration, deliveryReports: .collectFailures)
        defer { producer.close(flushTimeout: .seconds(30)) }

        let windowEvents: Int64? = windows > 0 ? Int64(windows) * ClickEventSequence.eventsPerWindowAllPages : nil
        let total: Int64? = windowEvents.map { $0 + Int64(tail) }
        // The tail closes the last window only on partitions it reaches: a job's watermark is the
        // minimum over partitions, so a partition without tail events keeps the last window open
        // until it is idle. Without keys the partitioner puts the few closing events (the last
        // ~100 ms of the tail's wall time) in one batch on one partition, so the tail goes to
        // every partition in turn.
        let partitions = windowEvents == nil ? 0 : try Self.partitionCount(of: topic, configuration)
        let start = Date()
        var index = startIndex
        var written: Int64 = 0
        var lastReport = Date()
        while total.map({ written < $0 }) ?? true {
            let event = ClickEventSequence.event(at: index)
            let inTail = windowEvents.map { written >= $0 } ?? false
            let partition = inTail && partitions > 0 ? Int32(truncatingIfNeeded: written % Int64(partitions)) : nil
            try producer.produce(ProducerRecord(topic: topic, partition: partition, value: event.jsonBytes()))
            index += 1
            written += 1
            if rate > 0 {
                let due = start.addingTimeInterval(Double(written) / rate)
                let wait = due.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            if Date().timeIntervalSince(lastReport) >= 5 {
                lastReport = Date()
                print("click-generator: \(written) events written (next index \(index))")
            }
        }
        try producer.flush(timeout: .seconds(60))
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        guard failures.isEmpty else {
            throw ValidationError("\(failures.count) events were not delivered: \(failures.first?.error.map { "\($0)" } ?? "")")
        }
        print("click-generator: done, \(written) events written (next index \(index))")
    }

    /// The topic's partition count (0 when it cannot be read: the tail then goes where the partitioner puts it).
    static func partitionCount(of topic: String, _ configuration: KafkaConfiguration) throws -> Int {
        do {
            let admin = try KafkaAdmin(configuration: configuration)
            defer { admin.close() }
            return try admin.describeTopic(topic).partitions.count
        } catch {
            print("click-generator: could not read the partitions of \(topic) (\(error)); the tail goes where the partitioner puts it")
            return 0
        }
    }
}
