import Testing
@testable import SluiceKafkaWire

@Suite struct ReadCommittedTests {
    private func data(_ offsets: ClosedRange<Int64>, producer: Int64, epoch: Int16 = 0, transactional: Bool = true) -> RecordBatch {
        RecordBatch(baseOffset: offsets.lowerBound,
                    attributes: RecordBatchAttributes(isTransactional: transactional),
                    producerId: producer, producerEpoch: epoch,
                    records: offsets.map { Record(offset: $0, timestamp: $0, key: nil, value: Array("\($0)".utf8)) })
    }

    private func marker(_ offset: Int64, producer: Int64, epoch: Int16 = 0, _ type: ControlRecordType) -> RecordBatch {
        RecordBatch.controlBatch(baseOffset: offset, producerId: producer, producerEpoch: epoch, type: type)
    }

    private func run(_ batches: [RecordBatch], from start: Int64 = 0) -> ReadCommittedAccumulator {
        var accumulator = ReadCommittedAccumulator(startOffset: start)
        for batch in batches { accumulator.add(batch) }
        return accumulator
    }

    @Test func committedIsVisibleAbortedIsNot() {
        let result = run([data(0...2, producer: 1), marker(3, producer: 1, .commit),
                          data(4...5, producer: 1), marker(6, producer: 1, .abort)])
        #expect(result.committedRecords.map(\.offset) == [0, 1, 2])
        #expect(result.transactions.map(\.state) == [.committed, .aborted])
        #expect(result.transactions.map(\.recordCount) == [3, 2])
        #expect(result.transactions.map(\.markerOffset) == [3, 6])
        #expect(result.markers.map(\.type) == [.commit, .abort])
        #expect(result.lastStableOffset == 7)
    }

    @Test func openTransactionIsHiddenAndHoldsTheLastStableOffset() {
        let result = run([data(0...1, producer: 1), data(2...3, producer: 2, transactional: false), data(4...4, producer: 1)])
        #expect(result.committedRecords.map(\.offset) == [2, 3])
        #expect(result.transactions.count == 1)
        #expect(result.transactions.first?.state == .open)
        #expect(result.transactions.first?.recordCount == 3)
        #expect(result.transactions.first?.lastOffset == 4)
        #expect(result.lastStableOffset == 0)
    }

    @Test func interleavedProducersAreResolvedIndependently() {
        let result = run([
            data(0...1, producer: 1), data(2...3, producer: 2), data(4...4, producer: 1),
            marker(5, producer: 2, .abort), data(6...6, producer: 3), marker(7, producer: 1, .commit),
            data(8...8, producer: 2),
        ])
        #expect(result.committedRecords.map(\.offset) == [0, 1, 4])
        #expect(result.transactions.map(\.producerId) == [1, 2, 3, 2])
        #expect(result.transactions.map(\.state) == [.committed, .aborted, .open, .open])
        #expect(result.lastStableOffset == 6)
        #expect(result.nextOffset == 9)
    }

    @Test func markerWithoutDataAndStartInsideABatch() {
        // An ABORT written by fencing an empty transaction; a read that starts in the middle of a batch.
        let result = run([marker(0, producer: 9, epoch: 1, .abort), data(1...4, producer: 1, transactional: false),
                          data(5...6, producer: 2), marker(7, producer: 2, .commit)], from: 3)
        #expect(result.markers.map(\.offset) == [7])
        #expect(result.committedRecords.map(\.offset) == [3, 4, 5, 6])
        #expect(result.committedRecords.map(\.isTransactional) == [false, false, true, true])
    }

    @Test func repeatedBatchesAreIgnored() {
        let batch = data(0...1, producer: 1, transactional: false)
        let result = run([batch, batch, data(2...2, producer: 1, transactional: false)])
        #expect(result.committedRecords.map(\.offset) == [0, 1, 2])
    }
}
