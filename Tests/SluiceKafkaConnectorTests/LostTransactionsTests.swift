import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime
import Testing
@testable import SluiceKafkaConnector

/// The sink tells the runtime, before committing anything restored, what became of each restored
/// transaction (issue 13, point 4): the log's marker of its producer decides.
@Suite struct RestoredTransactionStateTests {
    let zero = TopicPartition("out", 0)
    let one = TopicPartition("out", 1)

    @Test func anAbortMarkerMeansLostFromTheFirstOffsetUpToTheMarker() throws {
        let parts = FakeSinkParts()
        let lost = committable("job-1-0", offsets: [zero: 40, one: 7])
        let markers: [TopicPartition: ControlMarker?] = [
            zero: ControlMarker(offset: 52, producerId: 11, producerEpoch: 3, type: .abort), one: nil,
        ]
        parts.recovery.markers[lost.transactionalId] = markers
        let state = try parts.committer.restoredState(lost, checkpointId: 9)
        #expect(state == .lost([
            LostOutputRange(partition: "out/0", firstOffset: 40, endOffset: 52, checkpointId: 9, transaction: "job-1-0, producer 11 epoch 2"),
            LostOutputRange(partition: "out/1", firstOffset: 7, endOffset: nil, checkpointId: 9, transaction: "job-1-0, producer 11 epoch 2"),
        ]))
        #expect(parts.recovery.committed.isEmpty, "the check must not commit anything")
    }

    @Test func aCommitMarkerMeansCommittedAndNoMarkerPending() throws {
        let parts = FakeSinkParts()
        let done = committable("job-0-0", offsets: [zero: 3])
        parts.recovery.markers[done.transactionalId] = [zero: ControlMarker(offset: 9, producerId: 11, producerEpoch: 2, type: .commit)]
        #expect(try parts.committer.restoredState(done, checkpointId: 4) == .committed)
        // What the check read is not read again (nor sent) by the commit that follows.
        #expect(try parts.committer.recover(done) == .alreadyCommitted)
        #expect(parts.recovery.committed.isEmpty)
        #expect(try parts.committer.restoredState(committable("job-0-1", offsets: [zero: 10]), checkpointId: 4) == .pending)
        // Without first offsets the log cannot say: left to the commit.
        #expect(try parts.committer.restoredState(committable("job-0-2"), checkpointId: 4) == .pending)
    }

    @Test func aFirstOffsetGoneFromTheLogIsAClearError() {
        let parts = FakeSinkParts()
        parts.recovery.markerError = KafkaWireError.broker(api: "Fetch", code: .offsetOutOfRange, context: "out-0 at offset 40")
        #expect {
            try parts.committer.restoredState(committable("job-0-0", offsets: [zero: 40]), checkpointId: 4)
        } throws: { error in
            guard case .transactionLogGone(let id, _) = error as? KafkaSinkError else { return false }
            return id == "job-0-0" && "\(error)".contains("raise retention.ms")
        }
    }
}
