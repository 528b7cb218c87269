import Foundation
import Logging
import Metrics
import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceTestKit
@testable import SluiceRuntime
import Testing

/// With `holdBackWhileCommitPending`, the exactly-once sink holds back records of the open transaction
/// while the previous one waits for its commit (`StalledLastStableOffsetHoldBack`), so that a
/// read_committed reader sees each checkpoint's output once it commits: the embedded broker only
/// moves a partition's last stable offset when no transaction is open on it.
@Suite struct HoldBackTests {
    /// Drives the sink as the runtime does around one checkpoint: barrier 1 (pre-commit), records of
    /// checkpoint 2, then the commit of 1. Checkpoint 1's records must then be below the last stable
    /// offset while checkpoint 2's transaction is open.
    @Test func aCommittedCheckpointIsVisibleWhileTheNextTransactionIsOpen() async throws {
        let bootstrap = try await ConnectorBroker.address()
        let topic = try await ConnectorBroker.newTopic("hold-back", partitions: 1)
        let prefix = EmbeddedBroker.uniqueName("hold-back")
        let visible = try await onOwnThread { () -> [Int] in
            let sink = KafkaTwoPhaseCommitSink<String>(
                configuration: exactlyOnceSinkConfiguration(bootstrap, topic: topic, prefix: prefix), prefix: prefix,
                serializer: { KafkaSinkRecord(value: Array($0.utf8), partition: 0) })
            try sink.open(SinkContext(
                subtaskIndex: 0, parallelism: 1, previousParallelism: nil, restoredCheckpointId: nil,
                restoredCommittables: [], firstCheckpointId: 1, logger: testLogger(),
                metricDimensions: [], metricsFactory: NOOPMetricsHandler.instance))
            defer { try? sink.close() }
            try sink.recoverAndAbort(SinkRecoveryContext(
                subtaskIndex: 0, parallelism: 1, previousParallelism: nil, restoredCheckpointId: nil, firstCheckpointId: 1))
            var first = try sink.beginTransaction(checkpointId: 1)
            for i in 0..<5 { try sink.write("one-\(i)", timestamp: nil, to: &first) }
            guard let committable = try sink.preCommit(&first) else { throw ConnectorTestFailure(description: "no committable") }
            var second = try sink.beginTransaction(checkpointId: 2)
            for i in 0..<5 { try sink.write("two-\(i)", timestamp: nil, to: &second) }
            // Whatever the sink handed to its producer reaches the broker before the commit (without
            // holding back, checkpoint 2's transaction would now be open on the partition).
            try #require(sink.pool).producer(second.slot).flush(timeout: .seconds(30))
            try sink.commit(committable)
            // The second transaction's records are now on the broker, in an open transaction.
            try #require(sink.pool).producer(second.slot).flush(timeout: .seconds(30))
            let reader = try TransactionAwareLogReader(bootstrap: bootstrap)
            var counts: [Int] = []
            // What librdkafka's read_committed consumers are given: committed records below the
            // broker's last stable offset.
            let log = try reader.readPartition(TopicPartition(topic, 0))
            counts.append(log.committedRecords.filter { $0.offset < log.brokerLastStableOffset }.count)
            counts.append(Int(log.highWatermark))
            guard let committable2 = try sink.preCommit(&second) else { throw ConnectorTestFailure(description: "no second committable") }
            try sink.commit(committable2)
            let after = try reader.readPartition(TopicPartition(topic, 0))
            counts.append(after.committedRecords.filter { $0.offset < after.brokerLastStableOffset }.count)
            return counts
        }
        // Checkpoint 1's five records are visible while checkpoint 2's five are written but open.
        #expect(visible[0] == 5, "\(visible)")
        #expect(visible[1] >= 11, "\(visible)")  // 10 records and a commit marker
        #expect(visible[2] == 10, "\(visible)")
    }
}
