import NIOCore
import Testing
@testable import SluiceKafkaWire

/// Batches assembled byte by byte from the record batch v2 layout; CRCs computed independently
/// (bitwise CRC-32C in a separate script), not by this module.
@Suite struct RecordBatchTests {
    static func int64(_ value: Int64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
    static func int32(_ value: Int32) -> [UInt8] { (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
    static func int16(_ value: Int16) -> [UInt8] { [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)] }

    /// Record 1: offset delta 0, timestamp delta 0, key "a", value "hi", no headers.
    static let record1: [UInt8] = [0x12, 0x00, 0x00, 0x00, 0x02, 0x61, 0x04, 0x68, 0x69, 0x00]
    /// Record 2: offset delta 1, timestamp delta 5, null key, value "yo", header h=v.
    static let record2: [UInt8] = [0x18, 0x00, 0x0A, 0x02, 0x01, 0x04, 0x79, 0x6F, 0x02, 0x02, 0x68, 0x02, 0x76]

    static func batch(baseOffset: Int64, crc: UInt32, attributes: Int16, lastOffsetDelta: Int32, baseTimestamp: Int64,
                      maxTimestamp: Int64, producerId: Int64, epoch: Int16, count: Int32, payload: [UInt8]) -> [UInt8] {
        let afterCRC = int16(attributes) + int32(lastOffsetDelta) + int64(baseTimestamp) + int64(maxTimestamp)
            + int64(producerId) + int16(epoch) + int32(-1) + int32(count) + payload
        let afterLength = int32(0) + [0x02] + int32(Int32(bitPattern: crc)) + afterCRC
        return int64(baseOffset) + int32(Int32(afterLength.count)) + afterLength
    }

    static let twoRecords = batch(baseOffset: 0, crc: 0x5586_1CE3, attributes: 0, lastOffsetDelta: 1, baseTimestamp: 1000,
                                  maxTimestamp: 1005, producerId: -1, epoch: -1, count: 2, payload: record1 + record2)

    static let expectedRecords = [
        Record(offset: 0, timestamp: 1000, key: Array("a".utf8), value: Array("hi".utf8)),
        Record(offset: 1, timestamp: 1005, key: nil, value: Array("yo".utf8), headers: [RecordHeader(key: "h", value: Array("v".utf8))]),
    ]

    @Test func decodesTwoRecordBatch() throws {
        #expect(Self.twoRecords.count == 84)
        let batch = try RecordBatch.decode(ByteBuffer(bytes: Self.twoRecords))
        #expect(batch.crc == 0x5586_1CE3)
        #expect(batch.baseOffset == 0)
        #expect(batch.lastOffset == 1)
        #expect(batch.attributes.compression == CompressionCodec.none)
        #expect(!batch.isTransactional && !batch.isControl)
        #expect(batch.producerId == -1)
        #expect(batch.records == Self.expectedRecords)
    }

    @Test func encodesTheSameBytes() throws {
        let batch = RecordBatch(baseOffset: 0, partitionLeaderEpoch: 0, attributes: RecordBatchAttributes(),
                                baseTimestamp: 1000, records: Self.expectedRecords)
        #expect(try batch.encoded() == Self.twoRecords)
    }

    @Test func decodesGzipBatch() throws {
        // The two records above, compressed by Python's gzip module (mtime 0).
        let gzip: [UInt8] = [
            0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x13, 0x62, 0x60, 0x60, 0x60, 0x4A, 0x64, 0xC9,
            0xC8, 0x64, 0x90, 0x60, 0xE0, 0x62, 0x62, 0x64, 0xA9, 0xCC, 0x67, 0x62, 0xCA, 0x60, 0x2A, 0x03, 0x00, 0x12,
            0x16, 0x1F, 0xE9, 0x17, 0x00, 0x00, 0x00,
        ]
        let bytes = Self.batch(baseOffset: 0, crc: 0xE073_4278, attributes: 1, lastOffsetDelta: 1, baseTimestamp: 1000,
                               maxTimestamp: 1005, producerId: -1, epoch: -1, count: 2, payload: gzip)
        let batch = try RecordBatch.decode(ByteBuffer(bytes: bytes))
        #expect(batch.attributes.compression == .gzip)
        #expect(batch.records == Self.expectedRecords)
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyCodecRoundTrips(codec: CompressionCodec) throws {
        let records = (0..<50).map { Record(offset: 100 + Int64($0), timestamp: 5000 + Int64($0), key: Array("k\($0)".utf8),
                                            value: Array(repeating: UInt8($0), count: 200)) }
        let batch = RecordBatch(baseOffset: 100, attributes: RecordBatchAttributes(compression: codec, isTransactional: true),
                                producerId: 7, producerEpoch: 1, baseSequence: 0, records: records)
        let decoded = try RecordBatch.decode(ByteBuffer(bytes: try batch.encoded()))
        #expect(decoded.records == records)
        #expect(decoded.attributes.compression == codec)
        #expect(decoded.isTransactional)
    }

    @Test(arguments: CompressionCodec.allCases)
    func largeBatchesRoundTrip(codec: CompressionCodec) throws {
        // 2,000 records of 1 KiB: several MiB once decompressed, beyond every codec's internal chunk size.
        let records = (0..<2_000).map { Record(offset: Int64($0), timestamp: 0, key: nil,
                                               value: Array(repeating: UInt8($0 % 251), count: 1_024)) }
        let batch = RecordBatch(baseOffset: 0, attributes: RecordBatchAttributes(compression: codec), records: records)
        #expect(try RecordBatch.decode(ByteBuffer(bytes: try batch.encoded())).records == records)
    }

    @Test func decodesXerialFramedSnappy() throws {
        let records = [Record(offset: 0, timestamp: 1, key: nil, value: Array("xerial".utf8))]
        let plain = RecordBatch(baseOffset: 0, attributes: RecordBatchAttributes(), records: records)
        let encoded = try plain.encoded()
        let rawRecords = Array(encoded[RecordBatch.headerSize...])
        let block = try Codec.compress(rawRecords, codec: .snappy)
        // Xerial header: magic, version 1, compatible 1; then (int32 length, block).
        let xerial: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00] + Self.int32(1) + Self.int32(1)
            + Self.int32(Int32(block.count)) + block
        #expect(try Codec.decompress(xerial, codec: .snappy) == rawRecords)
    }

    @Test func decodesCommitControlBatch() throws {
        let control: [UInt8] = [0x20, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x0C, 0, 0, 0, 0, 0, 0, 0x00]
        let bytes = Self.batch(baseOffset: 5, crc: 0x21BE_C811, attributes: 0x30, lastOffsetDelta: 0, baseTimestamp: 0,
                               maxTimestamp: 0, producerId: 42, epoch: 3, count: 1, payload: control)
        let batch = try RecordBatch.decode(ByteBuffer(bytes: bytes))
        #expect(batch.isControl && batch.isTransactional)
        #expect(batch.controlType == .commit)
        #expect(batch.producerId == 42 && batch.producerEpoch == 3)
        // Our encoder writes leader epoch -1; with 0 it must reproduce the golden bytes exactly.
        var ours = RecordBatch.controlBatch(baseOffset: 5, producerId: 42, producerEpoch: 3, type: .commit)
        ours.partitionLeaderEpoch = 0
        #expect(try ours.encoded() == bytes)
    }

    @Test func badCRCIsATypedError() {
        var corrupt = Self.twoRecords
        corrupt[corrupt.count - 1] ^= 0xFF
        #expect(throws: KafkaWireError.crcMismatch(baseOffset: 0, stored: 0x5586_1CE3, computed: CRC32C.checksum(corrupt[21...]))) {
            try RecordBatch.decode(ByteBuffer(bytes: corrupt))
        }
        #expect(throws: KafkaWireError.crcMismatch(baseOffset: 0, stored: 0x5586_1CE3, computed: CRC32C.checksum(corrupt[21...]))) {
            try RecordBatch.decodeAll(ByteBuffer(bytes: corrupt))
        }
    }

    @Test func truncatedTailIsSkipped() throws {
        var second = Self.twoRecords
        second.replaceSubrange(0..<8, with: Self.int64(2))
        for cut in [1, 11, 12, 40, 83] {
            let set = try RecordBatch.decodeAll(ByteBuffer(bytes: Self.twoRecords + second.prefix(cut)))
            #expect(set.batches.count == 1)
            #expect(set.truncatedTailBytes == cut)
        }
        let both = try RecordBatch.decodeAll(ByteBuffer(bytes: Self.twoRecords + second))
        #expect(both.batches.map(\.baseOffset) == [0, 2])
        #expect(both.truncatedTailBytes == 0)
        // A single batch cut short is an error when decoded on its own.
        #expect(throws: KafkaWireError.self) { try RecordBatch.decode(ByteBuffer(bytes: Array(Self.twoRecords.prefix(70)))) }
    }

    @Test func otherMagicIsRejected() {
        var legacy = Self.twoRecords
        legacy[16] = 1
        #expect(throws: KafkaWireError.unsupportedMagic(baseOffset: 0, magic: 1)) { try RecordBatch.decode(ByteBuffer(bytes: legacy)) }
    }
}
