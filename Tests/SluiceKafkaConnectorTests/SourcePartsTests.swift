import Foundation
import SluiceKafka
@testable import SluiceKafkaConnector
import Testing

/// The source's state pieces, without a broker.
@Suite("Kafka source state")
struct SourcePartsTests {
    @Test func splitStateRoundTripsInSplitOrder() throws {
        let offsets = [TopicPartition("b", 0): 7, TopicPartition("a", 1): 3, TopicPartition("a", 0): KafkaOffset.beginning]
        let floors = [TopicPartition("a", 1): Int64(1_700_000_000_000)]
        let entries = try KafkaSplitState.encode(offsets: offsets, floors: floors)
        let splits = try entries.map { try JSONDecoder().decode(KafkaSplitState.self, from: $0) }
        #expect(splits.map { "\($0.topic)-\($0.partition)" } == ["a-0", "a-1", "b-0"])
        let (restored, restoredFloors, _) = try KafkaSplitState.decode(entries)
        #expect(restored == offsets)
        #expect(restoredFloors == floors)
    }

    @Test func anUnreadableEntryIsACorruptCheckpoint() {
        #expect {
            _ = try KafkaSplitState.decode([Data("not json".utf8)])
        } throws: { error in
            guard case .corruptSplitState = error as? KafkaSourceError else { return false }
            return true
        }
    }

    @Test func completedCheckpointsCommitTheirLatestOffsetsOnce() {
        var pending = PendingOffsetCommits()
        pending.record([TopicPartition("a", 0): 5, TopicPartition("a", 1): KafkaOffset.end], checkpointId: 1)
        pending.record([TopicPartition("a", 0): 9], checkpointId: 2)
        pending.record([TopicPartition("a", 0): 12], checkpointId: 3)
        pending.abort(3)
        // Logical offsets are not committed; checkpoint 2 subsumes 1.
        #expect(pending.complete(2) == [TopicPartition("a", 0): 9])
        #expect(pending.complete(3) == nil)
    }
}
