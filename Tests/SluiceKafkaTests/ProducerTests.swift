import Foundation
import SluiceKafka
import SluiceTestKit
import Synchronization
import Testing

@Suite("Producer and consumer against the embedded broker")
struct ProducerTests {
    @Test func sendAwaitsDeliveryReportsAndConsumerSeesKeysHeadersTimestamps() async throws {
        let (broker, topic) = try TestBroker.topic("roundtrip", partitions: 3)
        let producer = try KafkaProducer(configuration: .test(broker))
        defer { producer.close() }
        var reports: [DeliveryReport] = []
        for index in 0..<6 {
            let record = ProducerRecord(
                topic: topic, partition: Int32(index % 3), key: "k\(index)", value: "v\(index)",
                headers: [KafkaHeader(key: "h", value: "x\(index)"), KafkaHeader(key: "null", value: nil)],
                timestamp: 1_000_000 + Int64(index))
            reports.append(try await producer.send(record))
        }
        #expect(reports.map(\.partition) == [0, 1, 2, 0, 1, 2])
        #expect(reports.map(\.offset) == [0, 0, 0, 1, 1, 1])
        #expect(reports.allSatisfy { $0.topic == topic && $0.isSuccess })

        let records = try readAll(broker, topic: topic, partitions: 3, isolation: .readUncommitted)
            .sorted { ($0.timestamp ?? 0) < ($1.timestamp ?? 0) }
        #expect(records.count == 6)
        for (index, record) in records.enumerated() {
            #expect(record.keyString == "k\(index)")
            #expect(record.valueString == "v\(index)")
            #expect(record.partition == Int32(index % 3))
            #expect(record.offset == Int64(index / 3))
            #expect(record.timestamp == 1_000_000 + Int64(index))
            #expect(record.timestampType == .createTime)
            #expect(record.headers == [KafkaHeader(key: "h", value: "x\(index)"), KafkaHeader(key: "null", value: nil)])
        }
    }

    @Test func batchedPathDeliversAHundredThousandReports() throws {
        let (broker, topic) = try TestBroker.topic("batch", partitions: 2)
        let received = Mutex<(count: Int, failed: Int, batches: Int)>((0, 0, 0))
        var configuration = KafkaConfiguration.test(broker)
        configuration.linger = .milliseconds(5)
        // A small local queue, so the QUEUE_FULL retry path is exercised too.
        configuration.queueBufferingMaxMessages = 10_000
        let producer = try KafkaProducer(
            configuration: configuration,
            deliveryReports: .handler { batch in
                received.withLock {
                    $0.count += batch.count
                    $0.failed += batch.filter { !$0.isSuccess }.count
                    $0.batches += 1
                }
            })
        defer { producer.close() }
        let value = [UInt8](repeating: 0x61, count: 100)
        let total = 100_000
        for index in 0..<total {
            try producer.produce(ProducerRecord(topic: topic, partition: Int32(index % 2), value: value))
        }
        try producer.flush(timeout: .seconds(30))
        let result = received.withLock { $0 }
        #expect(result.count == total)
        #expect(result.failed == 0)
        #expect(result.batches < total)  // reports arrive batched, not one call per record
        #expect(producer.inFlightCount == 0)
        // The embedded broker's ListOffsets answers the last batch's base offset as the high watermark,
        // so the records are counted by reading them.
        let records = try readAll(broker, topic: topic, partitions: 2, isolation: .readUncommitted, limit: .seconds(30))
        #expect(records.count == total)
        for partition in Int32(0)...1 {
            let offsets = records.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == Array(0..<Int64(total / 2)))
        }
    }

    @Test func collectedReportsAreDrained() throws {
        let (broker, topic) = try TestBroker.topic("drain")
        let producer = try KafkaProducer(configuration: .test(broker), deliveryReports: .collect)
        defer { producer.close() }
        for index in 0..<10 { try producer.produce(ProducerRecord(topic: topic, key: nil, value: "r\(index)")) }
        try producer.flush(timeout: .seconds(10))
        let reports = producer.drainDeliveryReports()
        #expect(reports.map(\.offset).sorted() == Array(0..<10))
        #expect(producer.drainDeliveryReports().isEmpty)
    }

    @Test func unknownPartitionIsATypedError() async throws {
        let (broker, topic) = try TestBroker.topic("unknown-partition")
        let producer = try KafkaProducer(configuration: .test(broker))
        defer { producer.close() }
        // Let the producer learn the topic's metadata first, so the partition check is immediate.
        _ = try await producer.send(ProducerRecord(topic: topic, key: nil, value: "first"))
        do {
            _ = try await producer.send(ProducerRecord(topic: topic, partition: 7, key: nil, value: "x"), timeout: .seconds(5))
            Issue.record("producing to partition 7 of a 1-partition topic succeeded")
        } catch let error as KafkaError {
            #expect(error.kind == .unknownTopicOrPartition, "\(error)")
        }
    }
}
