import NIOCore
import Testing
@testable import SluiceKafkaWire

@Suite struct EncodingTests {
    private func varint(_ value: Int32) -> [UInt8] {
        var writer = WireWriter()
        writer.writeVarint(value)
        return writer.bytes
    }

    @Test func zigzagVarintsMatchTheSpec() throws {
        // Values from the protocol guide's zigzag table and LEB128 layout.
        #expect(varint(0) == [0x00])
        #expect(varint(-1) == [0x01])
        #expect(varint(1) == [0x02])
        #expect(varint(-2) == [0x03])
        #expect(varint(63) == [0x7E])
        #expect(varint(-64) == [0x7F])
        #expect(varint(64) == [0x80, 0x01])
        #expect(varint(Int32.max) == [0xFE, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(varint(Int32.min) == [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        for value: Int32 in [0, -1, 1, 63, -64, 64, 300, -300, Int32.max, Int32.min] {
            var reader = WireReader(bytes: varint(value))
            #expect(try reader.readVarint() == value)
            #expect(reader.isAtEnd)
        }
    }

    @Test func varlongsAndUnsignedVarints() throws {
        var writer = WireWriter()
        writer.writeVarlong(Int64.min)
        writer.writeVarlong(Int64.max)
        writer.writeUnsignedVarint(300)
        #expect(writer.bytes == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                                 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                                 0xAC, 0x02])
        var reader = WireReader(bytes: writer.bytes)
        #expect(try reader.readVarlong() == Int64.min)
        #expect(try reader.readVarlong() == Int64.max)
        #expect(try reader.readUnsignedVarint() == 300)
    }

    @Test func malformedAndTruncatedVarintsAreTypedErrors() {
        var truncated = WireReader(bytes: [0x80, 0x80])
        #expect(throws: KafkaWireError.truncated(context: "varint", needed: 3, available: 0)) { try truncated.readVarint() }
        var overlong = WireReader(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: KafkaWireError.self) { try overlong.readVarint() }
        var empty = WireReader(bytes: [])
        #expect(throws: KafkaWireError.truncated(context: "int64", needed: 8, available: 0)) { try empty.readInt64() }
    }

    @Test func stringsBytesArraysAndTaggedFields() throws {
        var writer = WireWriter()
        writer.writeString("ab")
        writer.writeNullableString(nil)
        writer.writeCompactString("ab")
        writer.writeCompactNullableString(nil)
        writer.writeNullableBytes([1, 2])
        writer.writeCompactBytes([3])
        writer.writeArray([Int32(7), 8]) { $0.writeInt32($1) }
        writer.writeArray([Int32(9)], compact: true) { $0.writeInt32($1) }
        writer.writeNullableArray(Optional<[Int32]>.none) { $0.writeInt32($1) }
        writer.writeTaggedFields([1: [0xAA]])
        #expect(writer.bytes == [
            0x00, 0x02, 0x61, 0x62,  // string
            0xFF, 0xFF,  // null string
            0x03, 0x61, 0x62,  // compact string: length + 1
            0x00,  // compact null
            0x00, 0x00, 0x00, 0x02, 0x01, 0x02,  // bytes
            0x02, 0x03,  // compact bytes
            0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08,  // array
            0x02, 0x00, 0x00, 0x00, 0x09,  // compact array
            0xFF, 0xFF, 0xFF, 0xFF,  // null array
            0x01, 0x01, 0x01, 0xAA,  // one tagged field: tag 1, size 1
        ])
        var reader = WireReader(bytes: writer.bytes)
        #expect(try reader.readString() == "ab")
        #expect(try reader.readNullableString() == nil)
        #expect(try reader.readCompactString() == "ab")
        #expect(try reader.readCompactNullableString() == nil)
        #expect(try reader.readNullableBytes() == [1, 2])
        #expect(try reader.readCompactBytes() == [3])
        #expect(try reader.readArray { try $0.readInt32() } == [7, 8])
        #expect(try reader.readArray(compact: true) { try $0.readInt32() } == [9])
        #expect(try reader.readNullableArray { try $0.readInt32() } == nil)
        #expect(try reader.readTaggedFields() == [1: [0xAA]])
        #expect(reader.isAtEnd)
    }

    @Test func hugeArrayCountsAreRejectedWithoutAllocating() {
        var reader = WireReader(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x00])
        #expect(throws: KafkaWireError.self) { try reader.readArray { try $0.readInt8() } }
    }

    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }
}
