import Foundation
import SluiceKafka
import SluiceTestKit
import Testing

@Suite("Consumer against the embedded broker")
struct ConsumerTests {
    /// Produces `count` records "v<i>" to partition 0 and waits for them.
    func fill(_ broker: EmbeddedBroker, _ topic: String, count: Int, partition: Int32 = 0) throws {
        let producer = try KafkaProducer(configuration: .test(broker), deliveryReports: .collectFailures)
        defer { producer.close() }
        for index in 0..<count {
            try producer.produce(ProducerRecord(topic: topic, partition: partition, key: nil, value: "v\(index)"))
        }
        try producer.flush(timeout: .seconds(10))
        #expect(producer.drainDeliveryReports().isEmpty)
    }

    /// Polls until `stop` says so, with a bound.
    func pollUntil(
        _ consumer: KafkaConsumer, limit: Duration = .seconds(10), _ stop: ([KafkaConsumerEvent]) -> Bool
    ) throws -> [KafkaConsumerEvent] {
        var events: [KafkaConsumerEvent] = []
        let deadline = ContinuousClock.now.advanced(by: limit)
        while !stop(events) {
            guard ContinuousClock.now < deadline else { throw TestTimeout(description: "events so far: \(events)") }
            events += try consumer.poll(timeout: .milliseconds(100))
        }
        return events
    }

    static func values(_ events: [KafkaConsumerEvent]) -> [String] {
        events.compactMap { if case .record(let r) = $0 { return r.valueString } else { return nil } }
    }

    static func endOffsets(_ events: [KafkaConsumerEvent]) -> [Int64] {
        events.compactMap { if case .endOfPartition(_, let offset) = $0 { return offset } else { return nil } }
    }

    /// The callback form of `poll` hands over the same events in the same order, counts them, stops
    /// at `maxEvents`, and rethrows what the callback throws unchanged.
    @Test func pollWithACallbackHandsOverEachEvent() throws {
        struct Stop: Error {}
        let (broker, topic) = try TestBroker.topic("consume-each")
        try fill(broker, topic, count: 7)
        let consumer = try KafkaConsumer(configuration: .test(broker))
        defer { consumer.close() }
        try consumer.assign([TopicPartition(topic, 0): KafkaOffset.beginning])
        var events: [KafkaConsumerEvent] = []
        var counted = 0
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while Self.endOffsets(events).isEmpty && ContinuousClock.now < deadline {
            counted += try consumer.poll(maxEvents: 3, timeout: .milliseconds(100)) { events.append($0) }
        }
        #expect(Self.values(events) == (0..<7).map { "v\($0)" })
        #expect(Self.endOffsets(events) == [7])
        #expect(counted == events.count)
        try consumer.seek(TopicPartition(topic, 0), to: 2)
        var seen = 0
        #expect(throws: Stop.self) {
            while ContinuousClock.now < deadline {
                _ = try consumer.poll(maxEvents: 10, timeout: .milliseconds(100)) { event in
                    if case .record = event { seen += 1 }
                    if seen == 2 { throw Stop() }
                }
            }
        }
        #expect(seen == 2)
    }

    @Test func assignSeekEndOfPartitionAndWatermarks() throws {
        let (broker, topic) = try TestBroker.topic("consume")
        try fill(broker, topic, count: 10)
        var configuration = KafkaConfiguration.test(broker)
        configuration.statisticsInterval = .milliseconds(100)
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { consumer.close() }
        let tp = TopicPartition(topic, 0)
        try consumer.assign([tp: 3])
        #expect(try consumer.assignment() == [tp])
        let first = try pollUntil(consumer) { !Self.endOffsets($0).isEmpty }
        #expect(Self.values(first) == (3..<10).map { "v\($0)" })
        #expect(Self.endOffsets(first) == [10])
        #expect(try consumer.position([tp]) == [tp: 10])
        #expect(try consumer.cachedWatermarks(tp) == Watermarks(low: 0, high: 10))
        // ListOffsets on the embedded broker answers the last batch's base offset as the high
        // watermark (measured: 1 for 10 records written as batches [0] and [1-9]); Fetch is right.
        let listed = try consumer.watermarks(tp)
        #expect(listed.low == 0)
        #expect((1...10).contains(listed.high))

        try consumer.seek(tp, to: 8)
        let again = try pollUntil(consumer) { !Self.endOffsets($0).isEmpty }
        #expect(Self.values(again) == ["v8", "v9"])

        // The last stable offset arrives through statistics (ls_offset from Fetch).
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while consumer.lastStableOffset(tp) != 10, ContinuousClock.now < deadline {
            _ = try consumer.poll(timeout: .milliseconds(50))
        }
        #expect(consumer.lastStableOffset(tp) == 10)
        #expect(consumer.statistics?.partition(tp)?.hiOffset == 10)
    }

    @Test func pauseStopsDeliveryAndResumeContinues() throws {
        let (broker, topic) = try TestBroker.topic("pause", partitions: 2)
        try fill(broker, topic, count: 3, partition: 0)
        let consumer = try KafkaConsumer(configuration: .test(broker))
        defer { consumer.close() }
        let p0 = TopicPartition(topic, 0)
        let p1 = TopicPartition(topic, 1)
        try consumer.assign([p0: KafkaOffset.beginning, p1: KafkaOffset.beginning])
        try consumer.pause([p0])
        // Partition 1 (empty) reports its end; paused partition 0 delivers nothing.
        let paused = try pollUntil(consumer) { events in
            events.contains { if case .endOfPartition(let tp, _) = $0 { return tp == p1 } else { return false } }
        }
        _ = try consumer.poll(timeout: .milliseconds(300))
        #expect(Self.values(paused).isEmpty)
        try consumer.resume([p0])
        let resumed = try pollUntil(consumer) { Self.values($0).count == 3 }
        #expect(Self.values(resumed) == ["v0", "v1", "v2"])
    }

    @Test func commitAndReadBackCommittedOffsets() throws {
        let (broker, topic) = try TestBroker.topic("commit")
        try fill(broker, topic, count: 2)
        var configuration = KafkaConfiguration.test(broker)
        configuration.groupId = EmbeddedBroker.uniqueName("group")
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { consumer.close() }
        let tp = TopicPartition(topic, 0)
        try consumer.assign([tp: KafkaOffset.beginning])
        try consumer.commit(offsets: [tp: 2])
        #expect(try consumer.committed([tp]) == [tp: 2])
        try consumer.storeOffsets([tp: 1])
    }

    @Test func unknownTopicIsATypedErrorEvent() throws {
        let broker = try TestBroker.get()
        var configuration = KafkaConfiguration.test(broker)
        // librdkafka reports a missing topic only after this long (default 30 s).
        configuration["topic.metadata.propagation.max.ms"] = "500"
        let consumer = try KafkaConsumer(configuration: configuration)
        defer { consumer.close() }
        let tp = TopicPartition(EmbeddedBroker.uniqueName("missing"), 0)
        try consumer.assign([tp: KafkaOffset.beginning])
        let events = try pollUntil(consumer) { events in
            events.contains { if case .error = $0 { return true } else { return false } }
        }
        let errors = events.compactMap { if case .error(let e) = $0 { return e } else { return nil } }
        #expect(errors.first?.kind == .unknownTopicOrPartition, "\(errors)")
        #expect(throws: KafkaError.self) { try consumer.watermarks(tp, timeout: .seconds(3)) }
    }

    @Test func closeIsIdempotentAndLaterCallsSayClosed() throws {
        let broker = try TestBroker.get()
        let consumer = try KafkaConsumer(configuration: .test(broker))
        consumer.close()
        consumer.close()
        #expect { try consumer.poll(timeout: .milliseconds(1)) } throws: { ($0 as? KafkaError)?.kind == .closed }
    }
}
