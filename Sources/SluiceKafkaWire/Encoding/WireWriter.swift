import NIOCore

/// Appends Kafka protocol primitives (big-endian integers, varints, strings, bytes, arrays, tagged
/// fields) to a `ByteBuffer`. Varints are written by hand: NIO offers fixed-width integers only.
package struct WireWriter: Sendable {
    package private(set) var buffer: ByteBuffer

    package init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    package init(buffer: ByteBuffer) { self.buffer = buffer }

    /// The bytes written so far.
    package var bytes: [UInt8] { Array(buffer.readableBytesView) }
    package var count: Int { buffer.readableBytes }

    // MARK: Fixed width

    package mutating func writeInt8(_ value: Int8) { buffer.writeInteger(value) }
    package mutating func writeInt16(_ value: Int16) { buffer.writeInteger(value, endianness: .big) }
    package mutating func writeInt32(_ value: Int32) { buffer.writeInteger(value, endianness: .big) }
    package mutating func writeInt64(_ value: Int64) { buffer.writeInteger(value, endianness: .big) }
    package mutating func writeUInt32(_ value: UInt32) { buffer.writeInteger(value, endianness: .big) }
    package mutating func writeBool(_ value: Bool) { writeInt8(value ? 1 : 0) }

    /// Overwrites a big-endian int32 at an absolute writer index (for length and CRC fields written afterwards).
    package mutating func setInt32(_ value: Int32, at index: Int) {
        buffer.setInteger(value, at: buffer.readerIndex + index, endianness: .big)
    }

    package mutating func setUInt32(_ value: UInt32, at index: Int) {
        buffer.setInteger(value, at: buffer.readerIndex + index, endianness: .big)
    }

    // MARK: Varints

    /// Unsigned LEB128 varint (flexible-version lengths, tag numbers).
    package mutating func writeUnsignedVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }

    /// Zigzag-encoded signed 32-bit varint (record fields).
    package mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Zigzag-encoded signed 64-bit varint (record timestamps).
    package mutating func writeVarlong(_ value: Int64) {
        writeUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    // MARK: Strings and bytes

    package mutating func writeString(_ value: String) {
        let utf8 = Array(value.utf8)
        writeInt16(Int16(clamping: utf8.count))
        buffer.writeBytes(utf8)
    }

    package mutating func writeNullableString(_ value: String?) {
        guard let value else { writeInt16(-1); return }
        writeString(value)
    }

    package mutating func writeCompactString(_ value: String) {
        let utf8 = Array(value.utf8)
        writeUnsignedVarint(UInt64(utf8.count) + 1)
        buffer.writeBytes(utf8)
    }

    package mutating func writeCompactNullableString(_ value: String?) {
        guard let value else { writeUnsignedVarint(0); return }
        writeCompactString(value)
    }

    package mutating func writeBytes(_ value: [UInt8]) {
        writeInt32(Int32(clamping: value.count))
        buffer.writeBytes(value)
    }

    package mutating func writeNullableBytes(_ value: [UInt8]?) {
        guard let value else { writeInt32(-1); return }
        writeBytes(value)
    }

    package mutating func writeCompactBytes(_ value: [UInt8]) {
        writeUnsignedVarint(UInt64(value.count) + 1)
        buffer.writeBytes(value)
    }

    package mutating func writeCompactNullableBytes(_ value: [UInt8]?) {
        guard let value else { writeUnsignedVarint(0); return }
        writeCompactBytes(value)
    }

    /// Bytes with no length prefix.
    package mutating func writeRaw(_ value: [UInt8]) { buffer.writeBytes(value) }
    package mutating func writeRaw(_ value: ByteBuffer) {
        var copy = value
        buffer.writeBuffer(&copy)
    }

    // MARK: Arrays and tagged fields

    /// An array: int32 count (classic) or unsigned varint count+1 (compact, flexible versions).
    package mutating func writeArray<Element>(
        _ elements: [Element], compact: Bool = false, _ writeElement: (inout WireWriter, Element) -> Void
    ) {
        if compact { writeUnsignedVarint(UInt64(elements.count) + 1) } else { writeInt32(Int32(clamping: elements.count)) }
        for element in elements { writeElement(&self, element) }
    }

    /// A nullable array: count -1 (classic) or 0 (compact) for nil.
    package mutating func writeNullableArray<Element>(
        _ elements: [Element]?, compact: Bool = false, _ writeElement: (inout WireWriter, Element) -> Void
    ) {
        guard let elements else {
            if compact { writeUnsignedVarint(0) } else { writeInt32(-1) }
            return
        }
        writeArray(elements, compact: compact, writeElement)
    }

    /// A tagged-field section: count, then (tag, size, bytes) in ascending tag order.
    package mutating func writeTaggedFields(_ fields: [UInt32: [UInt8]] = [:]) {
        writeUnsignedVarint(UInt64(fields.count))
        for (tag, value) in fields.sorted(by: { $0.key < $1.key }) {
            writeUnsignedVarint(UInt64(tag))
            writeUnsignedVarint(UInt64(value.count))
            buffer.writeBytes(value)
        }
    }
}
