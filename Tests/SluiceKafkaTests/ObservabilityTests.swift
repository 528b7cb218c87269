import Foundation
import Logging
import SluiceKafka
import SluiceTestKit
import Synchronization
import Testing

/// A LogHandler that keeps what it receives.
struct CapturingLogHandler: LogHandler {
    final class Store: Sendable {
        let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
    }

    let store: Store
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.entries.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
    }
}

@Suite("Logs and statistics")
struct ObservabilityTests {
    @Test func librdkafkaLogLinesReachSwiftLog() throws {
        let store = CapturingLogHandler.Store()
        let logger = Logger(label: "capture") { _ in CapturingLogHandler(store: store) }
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration["debug"] = "broker"
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while store.entries.withLock({ $0.count }) < 3, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        producer.close()
        let entries = store.entries.withLock { $0 }
        // debug=broker lines arrive at syslog level 7 (debug) with their facility.
        #expect(entries.contains { $0.level == .debug && $0.metadata["rdkafka.facility"] != nil })
    }

    @Test func statisticsHandlerReceivesDecodedReports() throws {
        let (broker, topic) = try TestBroker.topic("stats")
        let received = Mutex<[KafkaStatistics]>([])
        var configuration = KafkaConfiguration.test(broker)
        configuration.statisticsInterval = .milliseconds(50)
        let producer = try KafkaProducer(
            configuration: configuration, statisticsHandler: { report in received.withLock { $0.append(report) } })
        defer { producer.close() }
        try producer.produce(ProducerRecord(topic: topic, key: nil, value: "x"))
        try producer.flush(timeout: .seconds(10))
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while received.withLock({ $0.last?.txmsgs ?? 0 }) < 1, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let last = try #require(received.withLock { $0.last })
        #expect(last.type == "producer")
        #expect(last.txmsgs == 1)
        #expect(last.brokers?.values.contains { $0.state == "UP" } == true)
        #expect(last.topics?[topic] != nil)
        #expect(last.json.contains("\"txmsgs\""))
        #expect(producer.statistics != nil)
    }
}
