import Foundation
@testable import SluiceKafkaConnector
import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime
import Testing

/// The repartition exchange's pieces, without a broker: the read_committed cursor, the record
/// coding, and the event time a reader may emit.
@Suite("Repartition exchange parts")
struct RepartitionPartsTests {
    private func data(_ offsets: ClosedRange<Int64>, producer: Int64, transactional: Bool = true) -> RecordBatch {
        RecordBatch(baseOffset: offsets.lowerBound, attributes: RecordBatchAttributes(isTransactional: transactional),
                    producerId: producer, producerEpoch: 0,
                    records: offsets.map { Record(offset: $0, timestamp: $0, key: nil, value: Array("\($0)".utf8)) })
    }

    private func marker(_ offset: Int64, producer: Int64, _ type: ControlRecordType) -> RecordBatch {
        RecordBatch.controlBatch(baseOffset: offset, producerId: producer, producerEpoch: 0, type: type)
    }

    private func released(_ cursor: inout CommittedPartitionCursor) -> [Int64] {
        var offsets: [Int64] = []
        cursor.release { offsets.append($0.offset) }
        return offsets
    }

    @Test func cursorReleasesCommittedRecordsAndSkipsAbortedOnes() {
        var cursor = CommittedPartitionCursor(position: 0)
        cursor.add([data(0...2, producer: 1), marker(3, producer: 1, .commit), data(4...5, producer: 1), marker(6, producer: 1, .abort)])
        #expect(released(&cursor) == [0, 1, 2])
        #expect(cursor.position == 7)
        #expect(cursor.fetchOffset == 7)
    }

    @Test func cursorStopsAtTheFirstOpenTransactionUntilItsMarkerComes() {
        var cursor = CommittedPartitionCursor(position: 0)
        // Producer 1's transaction is open; producer 2's, after it, already committed.
        cursor.add([data(0...1, producer: 1), data(2...3, producer: 2), marker(4, producer: 2, .commit)])
        #expect(released(&cursor).isEmpty)
        #expect(cursor.position == 0, "the position must not pass an open transaction")
        #expect(cursor.fetchOffset == 5)
        cursor.add([marker(5, producer: 1, .commit)])
        #expect(released(&cursor) == [0, 1, 2, 3])
        #expect(cursor.position == 6)
    }

    @Test func cursorResumesFromAPositionInsideABatchWithoutRepeating() {
        var cursor = CommittedPartitionCursor(position: 2)
        cursor.add([data(0...3, producer: -1, transactional: false), data(4...4, producer: 1), marker(5, producer: 1, .abort)])
        #expect(released(&cursor) == [2, 3])
        #expect(cursor.position == 6)
        // A later fetch that returns the same batches again changes nothing.
        cursor.add([data(4...4, producer: 1), marker(5, producer: 1, .abort)])
        #expect(released(&cursor).isEmpty)
    }

    @Test func batchesAfterAGapInAnAnswerWaitForTheNextFetch() {
        let batches = [data(5...7, producer: 1), data(8...9, producer: 1), data(12...13, producer: 1)]
        #expect(RepartitionSourceReader<Int>.contiguous(batches, from: 8).map(\.baseOffset) == [8])
        #expect(RepartitionSourceReader<Int>.contiguous(batches, from: 5).map(\.baseOffset) == [5, 8])
        // A first batch after the offset is a proven gap (the refetch decided it): kept, and what follows it.
        #expect(RepartitionSourceReader<Int>.contiguous(Array(batches.suffix(1)), from: 10).map(\.baseOffset) == [12])
    }

    @Test func recordsAndStatusesRoundTrip() throws {
        let values: [RepartitionRecord] = [
            .record(payload: [1, 2, 3], timestamp: 1_700_000_000_123), .record(payload: [], timestamp: nil),
            .watermark(-5, writer: 4, writers: 6), .watermark(.max, writer: 0, writers: 1), .idle(writer: 2, writers: 3),
        ]
        for value in values { #expect(try RepartitionRecord(decoding: value.encoded()) == value) }
        #expect(throws: RepartitionError.self) { try RepartitionRecord(decoding: [9]) }
    }

    @Test func sinkRecordsRoundTripSoTheyCanCrossAnExchange() throws {
        let records = [
            KafkaSinkRecord(value: nil),
            KafkaSinkRecord(topic: "t", key: [1, 2], value: Array("v".utf8),
                            headers: [KafkaHeader(key: "h", value: [9]), KafkaHeader(key: "none", value: nil)],
                            partition: 3, timestamp: -5),
        ]
        for record in records {
            var writer = BinaryWriter()
            record.encode(to: &writer)
            var reader = BinaryReader(writer.bytes)
            let decoded = try KafkaSinkRecord(from: &reader)
            #expect(reader.isAtEnd)
            #expect(decoded.topic == record.topic && decoded.key == record.key && decoded.value == record.value)
            #expect(decoded.headers == record.headers && decoded.partition == record.partition && decoded.timestamp == record.timestamp)
        }
        var reader = BinaryReader([2, 0])
        #expect(throws: StateSerializationError.self) { try KafkaSinkRecord(from: &reader) }
    }

    @Test func aPartitionWaitsForEveryWriterThenTakesTheMinimum() {
        var watermarks = RepartitionWatermarks(partitions: [0, 1])
        watermarks.update(partition: 0, writer: 0, writers: 2, watermark: 100)
        watermarks.update(partition: 1, writer: 0, writers: 2, watermark: 100)
        watermarks.update(partition: 1, writer: 1, writers: 2, watermark: 80)
        #expect(watermarks.current == .some(Int64.min), "writer 1 has not been heard from in partition 0")
        watermarks.update(partition: 0, writer: 1, writers: 2, watermark: 90)
        #expect(watermarks.current == .some(80))
        // Watermarks never go back; an idle writer does not hold event time.
        watermarks.update(partition: 1, writer: 1, writers: 2, watermark: 50)
        #expect(watermarks.current == .some(80))
        watermarks.update(partition: 1, writer: 1, writers: 2, watermark: nil)
        #expect(watermarks.current == .some(90))
        for partition: Int32 in [0, 1] {
            for writer in 0..<2 { watermarks.update(partition: partition, writer: writer, writers: 2, watermark: nil) }
        }
        #expect(watermarks.current == .none, "every writer idle: the reader is idle")
        // A new writer count (the upstream was rescaled) starts over.
        watermarks.update(partition: 0, writer: 0, writers: 3, watermark: 500)
        #expect(watermarks.current == .some(Int64.min))
    }

    @Test func keyGroupScopeSplitsAWorkersRangeAmongItsSubtasks() {
        let scope = KeyGroups.range(forSubtask: 1, parallelism: 3, maxParallelism: 12)
        #expect(scope == KeyGroupRange(start: 4, end: 7))
        let ranges = (0..<2).map { KeyGroups.range(forSubtask: $0, parallelism: 2, maxParallelism: 12, scope: scope) }
        #expect(ranges == [KeyGroupRange(start: 4, end: 5), KeyGroupRange(start: 6, end: 7)])
        // Routing within the scope is the inverse of the split.
        for keyGroup in 4...7 {
            let subtask = KeyGroups.subtask(forKeyGroup: keyGroup - scope.start, parallelism: 2, maxParallelism: scope.count)
            #expect(ranges[subtask].contains(keyGroup))
        }
        #expect(KeyGroups.range(forSubtask: 1, parallelism: 2, maxParallelism: 12, scope: nil) == KeyGroupRange(start: 6, end: 11))
    }

    @Test func restoredPositionsKeepThisTopicsPartitions() throws {
        func entry(_ topic: String, _ partition: Int, _ offset: Int64) -> Data {
            var writer = BinaryWriter()
            writer.writeString(topic)
            writer.writeVarInt(partition)
            writer.writeInt64(offset)
            return Data(writer.bytes)
        }
        let positions = try RepartitionSourceReader<Int>.decodePositions(
            [entry("a", 0, 5), entry("b", 0, 9), entry("a", 3, 7)], topic: "a")
        #expect(positions == [0: 5, 3: 7])
    }
}
