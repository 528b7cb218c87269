import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Recovery's log reads are bounded (issue 13, point 8): a committable's outcome is read from its
/// first offset up to its own marker, not to the end of the partition, and a first offset the log no
/// longer holds is a clear answer rather than a retry.
@Suite(.serialized) struct BoundedRecoveryReadTests {
    @Test func readsFromTheFirstOffsetUpToTheTransactionsMarkerOnly() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-bounded")
        let early = try transactionalProducer(broker, id: EmbeddedBroker.uniqueName("early"))
        defer { early.close() }
        try early.beginTransaction()
        for index in 0..<3 { try early.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "e\(index)")) }
        try early.commitTransaction(timeout: .seconds(30))
        // Much more log after the transaction's marker.
        let later = try transactionalProducer(broker, id: EmbeddedBroker.uniqueName("later"))
        defer { later.close() }
        for round in 0..<20 {
            try later.beginTransaction()
            for index in 0..<5 { try later.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "l\(round)-\(index)")) }
            try later.commitTransaction(timeout: .seconds(30))
        }

        let reader = try TransactionAwareLogReader(bootstrap: broker.bootstrap)
        let whole = try reader.readPartition(TopicPartition(topic, 0))
        let earlyMarker = try #require(whole.markers.first)
        let producerId = earlyMarker.producerId
        let bounded = try reader.readPartition(TopicPartition(topic, 0), from: 0, untilMarker: { $0.producerId == producerId })
        #expect(bounded.endOffset == earlyMarker.offset + 1, "read to \(bounded.endOffset), the marker is at \(earlyMarker.offset)")
        #expect(bounded.endOffset < whole.endOffset)
        #expect(try reader.firstMarker(in: TopicPartition(topic, 0), from: 0, where: { $0.producerId == producerId }) == earlyMarker)
        // No marker of that producer: up to the high watermark, nil.
        #expect(try reader.firstMarker(in: TopicPartition(topic, 0), from: 0, where: { $0.producerId == -42 }) == nil)
    }
}
