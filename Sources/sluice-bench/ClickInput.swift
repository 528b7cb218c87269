import Foundation
import SluiceClickCount
import SluiceKafka

/// Writes the playground's click events (the click generator's exact sequence) to a topic. Event i
/// goes to partition i % partitions, so every partition's event time advances together and the
/// job's last window closes without waiting for the 5 s idleness timeout. The Kafka timestamp is the
/// produce time (librdkafka's CreateTime), which the latency phase measures from.
final class ClickInput: Sendable {
    let topic: String
    let partitions: Int32
    private let producer: KafkaProducer

    init(bootstrap: String, topic: String, partitions: Int32, clientProperties: [String: String] = [:]) throws {
        self.topic = topic
        self.partitions = partitions
        var settings = KafkaConfiguration(bootstrapServers: bootstrap, clientProperties)
        settings.clientId = "sluice-bench-generator"
        settings.enableIdempotence = true
        settings.linger = .milliseconds(5)
        producer = try KafkaProducer(configuration: settings, deliveryReports: .collectFailures)
    }

    /// Events of `windows` complete windows plus a tail that moves the watermark past the last one.
    static func eventCount(windows: Int, tail: Int = 600) -> Int {
        windows * Int(ClickEventSequence.eventsPerWindowAllPages) + tail
    }

    /// The fewest complete windows whose events (with the tail) are at least `events`.
    static func windows(forAtLeast events: Int, tail: Int = 600) -> Int {
        let perWindow = Int(ClickEventSequence.eventsPerWindowAllPages)
        return max(1, (max(0, events - tail) + perWindow - 1) / perWindow)
    }

    func produce(index: Int64) throws {
        let event = ClickEventSequence.event(at: index)
        try producer.produce(ProducerRecord(topic: topic, partition: Int32(index % Int64(partitions)), value: event.jsonBytes()))
    }

    /// As fast as possible; waits for every delivery.
    func write(from start: Int64, count: Int) throws {
        for index in start..<(start + Int64(count)) { try produce(index: index) }
        try flush()
    }

    /// At `rate` events per second for `count` events, paced per millisecond. `producedAt`, when
    /// given, receives each event's produce time (wall-clock milliseconds, taken when the event is
    /// handed to librdkafka, which stamps its CreateTime at the same moment).
    func write(
        from start: Int64, count: Int, rate: Double, stop: (() -> Bool)? = nil,
        producedAt: ((Int64, Double) -> Void)? = nil
    ) throws {
        let began = ContinuousClock.now
        var written = 0
        while written < count {
            if let stop, stop() { break }
            let elapsed = (ContinuousClock.now - began) / .seconds(1)
            let due = min(count, Int(elapsed * rate) + 1)
            let now = producedAt == nil ? 0 : Date().timeIntervalSince1970 * 1000
            while written < due {
                try produce(index: start + Int64(written))
                producedAt?(start + Int64(written), now)
                written += 1
            }
            usleep(1000)
        }
        try flush()
    }

    func flush() throws {
        try producer.flush(timeout: .seconds(120))
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        if let first = failures.first {
            throw BenchError.contenderFailed(name: "generator", detail: "\(failures.count) events not delivered: \(first.error.map { "\($0)" } ?? "")")
        }
    }

    func close() { producer.close(flushTimeout: .seconds(10)) }
}
