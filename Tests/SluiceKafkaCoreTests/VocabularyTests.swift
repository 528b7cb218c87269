import Foundation
import SluiceKafkaCore
import Testing

/// The shared Kafka values: their order, printed form and encodings (checkpoints keep committables
/// as JSON, so the encoding must not change).
@Suite struct VocabularyTests {
    @Test func topicPartitionsPrintAndSortAsKafkaToolsDo() {
        #expect(TopicPartition("orders", 3).description == "orders-3")
        #expect(TopicPartition(topic: "a", partition: 1) == TopicPartition("a", 1))
        #expect([TopicPartition("b", 0), TopicPartition("a", 2), TopicPartition("a", 1)].sorted()
            == [TopicPartition("a", 1), TopicPartition("a", 2), TopicPartition("b", 0)])
    }

    @Test func aCommittableSurvivesItsCheckpointEncoding() throws {
        let committable = TransactionCommittable(
            transactionalId: "job-0-1", producerId: 42, epoch: 7, firstOffsets: [TopicPartition("out", 0): 10, TopicPartition("out", 1): 3])
        let decoded = try JSONDecoder().decode(TransactionCommittable.self, from: JSONEncoder().encode(committable))
        #expect(decoded == committable)
        #expect(decoded.producer == ProducerIdAndEpoch(producerId: 42, epoch: 7))
    }

    @Test func aCommittableOfAnEarlierVersionStillDecodes() throws {
        // The JSON a checkpoint of the previous layout holds (wire module's committable).
        let json = #"{"transactionalId":"job-0-0","producerId":5,"epoch":1,"firstOffsets":[{"topic":"out","partition":0},12]}"#
        let decoded = try JSONDecoder().decode(TransactionCommittable.self, from: Data(json.utf8))
        #expect(decoded.firstOffsets == [TopicPartition("out", 0): 12])
    }

    @Test func logicalOffsetsAreNegative() {
        #expect(KafkaOffset.beginning == -2)
        #expect(KafkaOffset.end == -1)
        #expect(KafkaOffset.stored == -1000)
    }
}
