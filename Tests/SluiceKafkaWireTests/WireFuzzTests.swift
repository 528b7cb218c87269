import Foundation
import NIOCore
import SluiceTestKit
import Testing
@testable import SluiceKafkaWire

/// Hostile responses: the captured ones mutated thousands of times, and the specific inputs that
/// used to trap (overflowing offsets and timestamps) or to allocate without bound (xerial snappy
/// blocks adding up, a response's batches adding up). Each must end in a KafkaWireError.
@Suite struct WireFuzzTests {
    static let fixtures = Result { try WireFixture.load(from: WireFixtureCapture.directory) }

    @Test func theFixturesCoverEveryCodecAndApi() throws {
        let fixtures = try Self.fixtures.get()
        #expect(Set(fixtures.map(\.api)) == ["apiversions", "metadata", "findcoordinator", "endtxn", "fetch"])
        let fetch = try #require(fixtures.first { $0.api == "fetch" })
        var reader = WireReader(bytes: fetch.body)
        let response = try FetchRequest(version: fetch.version, maxWaitMs: 0, minBytes: 0, maxBytes: 0, isolationLevel: .readUncommitted, topics: [])
            .decodeResponse(from: &reader)
        let records = try #require(response.topics.first?.partitions.first?.records)
        let codecs = try RecordBatch.decodeAll(records).batches.compactMap(\.attributes.compression)
        #expect(Set(codecs) == Set(CompressionCodec.allCases), "codecs: \(codecs)")
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func mutatedResponsesEndInATypedError(seed: UInt64) throws {
        let report = try WireFuzz.run(fixtures: try Self.fixtures.get(), cases: 1500, seed: seed)
        #expect(report.cases == 1500)
        #expect(report.refused > 0, "no mutation was refused: \(report)")
    }

    /// One uncompressed batch of one record, whose header fields the tests then set.
    func batch(baseOffset: Int64 = 0, lastOffsetDelta: Int32 = 0, baseTimestamp: Int64 = 0, offsetDelta: Int32 = 0,
               timestampDelta: Int64 = 0) throws -> ByteBuffer {
        var record = WireWriter(capacity: 16)
        record.writeInt8(0)
        record.writeVarlong(timestampDelta)
        record.writeVarint(offsetDelta)
        record.writeVarint(-1)
        record.writeVarint(1)
        record.writeRaw([0x41])
        record.writeVarint(0)
        let batch = RecordBatch(baseOffset: baseOffset, attributes: RecordBatchAttributes(), lastOffsetDelta: lastOffsetDelta,
                                baseTimestamp: baseTimestamp, maxTimestamp: baseTimestamp, records: [])
        var bytes = try batch.encoded()
        // Put the hand-made record in place of the (empty) record list, and fix count, length and CRC.
        bytes += [UInt8(record.count * 2)] + record.bytes
        bytes.replaceSubrange(57..<61, with: [0, 0, 0, 1])
        let length = UInt32(bytes.count - RecordBatch.logOverhead)
        bytes.replaceSubrange(8..<12, with: (0..<4).map { UInt8(truncatingIfNeeded: length >> (24 - 8 * UInt32($0))) })
        let crc = CRC32C.checksum(bytes[21...])
        bytes.replaceSubrange(17..<21, with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32($0))) })
        return ByteBuffer(bytes: bytes)
    }

    @Test func offsetsAndTimestampsThatOverflowAreMalformedNotATrap() throws {
        #expect(try RecordBatch.decode(try batch(baseOffset: 5, offsetDelta: 0)).records.first?.offset == 5)
        let hostile: [ByteBuffer] = [
            try batch(baseOffset: .max, lastOffsetDelta: 1),
            try batch(baseOffset: .max - 1, lastOffsetDelta: 1),
            try batch(baseOffset: .max - 5, lastOffsetDelta: 0, offsetDelta: 10),
            try batch(baseOffset: 0, lastOffsetDelta: -1),
            try batch(baseOffset: 0, offsetDelta: -3),
            try batch(baseTimestamp: .max, timestampDelta: 1),
            try batch(baseTimestamp: .min, timestampDelta: -1),
        ]
        for bytes in hostile {
            #expect(throws: KafkaWireError.self) { _ = try RecordBatch.decode(bytes) }
        }
    }

    @Test func xerialSnappyBlocksAreCappedTogether() throws {
        let block = try Codec.compress([UInt8](repeating: 7, count: 600), codec: .snappy)
        var framed: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        for _ in 0..<2 { framed += [0, 0, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block }
        #expect(try Codec.decompress(framed, codec: .snappy, limit: 2000).count == 1200)
        #expect(throws: KafkaWireError.self) { _ = try Codec.decompress(framed, codec: .snappy, limit: 1000) }
        // A negative block length is malformed too.
        #expect(throws: KafkaWireError.self) { _ = try Codec.decompress(Array(framed[0..<16]) + [0xFF, 0xFF, 0xFF, 0xFF], codec: .snappy) }
    }

    @Test func aResponsesBatchesAreCappedTogether() throws {
        let one = try batch()
        var two = one
        var copy = one
        two.writeBuffer(&copy)
        var roomy = DecodeBudget(maxBatchBytes: 1000, maxResponseBytes: 1000)
        #expect(try RecordBatch.decodeAll(two, budget: &roomy).batches.count == 2)
        var tight = DecodeBudget(maxBatchBytes: 1000, maxResponseBytes: one.readableBytes - RecordBatch.headerSize)
        #expect(throws: KafkaWireError.self) { _ = try RecordBatch.decodeAll(two, budget: &tight) }
        let compressed = try RecordBatch(baseOffset: 0, attributes: RecordBatchAttributes(compression: .zstd),
                                         records: [Record(offset: 0, timestamp: 0, key: nil, value: [UInt8](repeating: 1, count: 100_000))]).encoded()
        var small = DecodeBudget(maxBatchBytes: 10_000, maxResponseBytes: 1 << 20)
        #expect(throws: KafkaWireError.self) { _ = try RecordBatch.decode(ByteBuffer(bytes: compressed), budget: &small) }
    }
}
