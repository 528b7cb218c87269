import Foundation
import SluiceKafka
@testable import SluiceKafkaConnector
@testable import SluiceRuntime
import SluiceTestKit
import Testing

/// Issue 13.10(c): after a restore, a split whose records were all read before the checkpoint
/// yields nothing new. Its watermark generator used to start again at the beginning of time, so it
/// held the subtask's watermark back until its idle timeout (60 s in the broker-restart test): the
/// last windows did not fire within the bound. The checkpoint now keeps each split's largest event
/// time, and the restored split holds the watermark where it was.
extension ConnectorIntegrationTests {
    @Test func aRestoredSplitWithNothingNewDoesNotHoldTheWatermarkBack() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let topic = try await ConnectorBroker.newTopic("restored-watermark", partitions: 2)
        let base: Int64 = 1_700_000_000_000
        // Partition 0: ten records, all read before the checkpoint (restored at its end, offset 10).
        // Partition 1: ten records after the restored position 0.
        try await produce((0..<10).map { ProducerRecord(topic: topic, partition: 0, key: nil, value: "p0-\($0)", timestamp: base + 90_000 + Int64($0)) },
                          bootstrap: bootstrap)
        try await produce((0..<10).map { ProducerRecord(topic: topic, partition: 1, key: nil, value: "p1-\($0)", timestamp: base + 95_000 + Int64($0)) },
                          bootstrap: bootstrap)
        let (values, watermark, snapshot) = try await onOwnThread { () -> ([String], Int64, [TopicPartition: Int64]) in
            let watermarks = SplitWatermarkMultiplexer(outOfOrdernessMillis: 200, idleTimeoutMillis: 60_000, now: 0)
            let reader = try ReaderUnderTest(
                sourceConfiguration(bootstrap, topic: topic, group: "restored-watermark"),
                restored: [TopicPartition(topic, 0): 10, TopicPartition(topic, 1): 0],
                restoredMaxTimestamps: [TopicPartition(topic, 0): base + 90_009], watermarks: watermarks)
            _ = reader.poll(until: 10)
            _ = watermarks.poll(now: SystemClock().nowMillis())
            let state = try reader.reader.snapshotState(checkpointId: 2)
            return (reader.collected.values, watermarks.currentWatermark, try KafkaSplitState.decode(state).maxTimestamps)
        }
        #expect(Set(values) == Set((0..<10).map { "p1-\($0)" }))
        // The minimum over both splits: partition 0's restored 90.009 s - 200 ms - 1, not "no watermark".
        #expect(watermark == base + 90_009 - 200 - 1)
        // And the next checkpoint keeps both splits' largest event times.
        #expect(snapshot == [TopicPartition(topic, 0): base + 90_009, TopicPartition(topic, 1): base + 95_009])
    }
}
