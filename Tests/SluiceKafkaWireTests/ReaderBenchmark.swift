import Foundation
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Throughput of the transaction-aware reader; run with SLUICE_WIRE_BENCH=1 (not part of the normal run).
@Suite struct ReaderBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_WIRE_BENCH"] != nil))
    func readThroughput() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-bench")
        let client = try KafkaWireClient(bootstrap: broker.bootstrap)
        defer { client.close() }
        let partition = TopicPartition(topic, 0)
        let leader = try client.connection(to: try client.leader(of: partition))
        let value = [UInt8](repeating: 0x61, count: 100)
        let batches = 500, perBatch = 1_000
        for _ in 0..<batches {
            let records = (0..<perBatch).map { Record(offset: Int64($0), timestamp: 0, key: nil, value: value) }
            let batch = try RecordBatch(baseOffset: 0, attributes: RecordBatchAttributes(), records: records).encoded()
            _ = try leader.send(ProduceRequest(version: try leader.version(for: ProduceRequest.self), transactionalId: nil,
                                               data: [(topic, [(0, batch)])]))
        }
        let start = ContinuousClock.now
        let log = try TransactionAwareLogReader(client: client).readPartition(partition)
        let elapsed = ContinuousClock.now - start
        #expect(log.committedRecords.count == batches * perBatch)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("read \(log.committedRecords.count) records of 100 bytes in \(elapsed): \(Int(Double(log.committedRecords.count) / seconds)) records/s")
    }
}
