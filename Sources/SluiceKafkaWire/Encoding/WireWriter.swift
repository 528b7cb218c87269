import NIOCore

/// Appends Kafka protocol primitives (big-endian integers, varints, strings, bytes, arrays, tagged
/// fields) to a `ByteBuffer`. Varints are written by hand: NIO offers fixed-width integers only.
package struct WireWriter: Sendable {
    public private(set) var buffer: ByteBuffer

    public init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    public init(buffer: ByteBuffer) { self.buffer = buffer }

    /// The bytes written so far.
    public var bytes: [UInt8] { Array(buffer.readableBytesView) }
    public var count: Int { buffer.readableBytes }

    // MARK: Fixed width

    public mutating func writeInt8(_ value: Int8) { buffer.writeInteger(value) }
    public mutating func writeInt16(_ value: Int16) { buffer.writeInteger(value, endianness: .big) }
    public mutating func writeInt32(_ value: Int32) { buffer.writeInteger(value, endianness: .big) }
    public mutating func writeInt64(_ value: Int64) { buffer.writeInteger(value, endianness: .big) }
    public mutating func writeUInt32(_ value: UInt32) { buffer.writeInteger(value, endianness: .big) }
    public mutating func writeBool(_ value: Bool) { writeInt8(value ? 1 : 0) }

    /// Overwrites a big-endian int32 at an absolute writer index (for length and CRC fields written afterwards).
    public mutating func setInt32(_ value: Int32, at index: Int) {
        buffer.setInteger(value, at: buffer.readerIndex + index, endianness: .big)
    }

    public mutating func setUInt32(_ value: UInt32, at index: Int) {
        buffer.setInteger(value, at: buffer.readerIndex + index, endianness: .big)
    }

    // MARK: Varints

    /// Unsigned LEB128 varint (flexible-version lengths, tag numbers).
    public mutating func writeUnsignedVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }

    /// Zigzag-encoded signed 32-bit varint (record fields).
    public mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Zigzag-encoded signed 64-bit varint (record timestamps).
    public mutating func writeVarlong(_ value: Int64) {
        writeUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    // MARK: Strings and bytes

    public mutating func writeString(_ value: String) {
        let utf8 = Array(value.utf8)
        writeInt16(Int16(clamping: utf8.count))
        buffer.writeBytes(utf8)
    }

    public mutating func writeNullableString(_ value: String?) {
        guard let value else { writeInt16(-1); return }
        writeString(value)
    }

    public mutating func writeCompactString(_ value: String) {
        let utf8 = Array(value.utf8)
        writeUnsignedVarint(UInt64(utf8.count) + 1)
        buffer.writeBytes(utf8)
    }

    public mutating func writeCompactNullableString(_ value: String?) {
        guard let value else { writeUnsignedVarint(0); return }
        writeCompactString(value)
    }

    public mutating func writeBytes(_ value: [UInt8]) {
        writeInt32(Int32(clamping: value.count))
        buffer.writeBytes(value)
    }

    public mutating func writeNullableBytes(_ value: [UInt8]?) {
        guard let value else { writeInt32(-1); return }
        writeBytes(value)
    }

    public mutating func writeCompactBytes(_ value: [UInt8]) {
        writeUnsignedVarint(UInt64(value.count) + 1)
        buffer.writeBytes(value)
    }

    public mutating func writeCompactNullableBytes(_ value: [UInt8]?) {
        guard let value else { writeUnsignedVarint(0); return }
        writeCompactBytes(value)
    }

    /// Bytes with no length prefix.
    public mutating func writeRaw(_ value: [UInt8]) { buffer.writeBytes(value) }
    public mutating func writeRaw(_ value: ByteBuffer) {
        var copy = value
        buffer.writeBuffer(&copy)
    }

    // MARK: Arrays and tagged fields

    /// An array: int32 count (classic) or unsigned varint count+1 (compact, flexible versions).
    public mutating func writeArray<Element>(
        _ elements: [Element], compact: Bool = false, _ writeElement: (inout WireWriter, Element) -> Void
    ) {
        if compact { writeUnsignedVarint(UInt64(elements.count) + 1) } else { writeInt32(Int32(clamping: elements.count)) }
        for element in elements { writeElement(&self, element) }
    }

    /// A nullable array: count -1 (classic) or 0 (compact) for nil.
    public mutating func writeNullableArray<Element>(
        _ elements: [Element]?, compact: Bool = false, _ writeElement: (inout WireWriter, Element) -> Void
    ) {
        guard let elements else {
            if compact { writeUnsignedVarint(0) } else { writeInt32(-1) }
            return
        }
        writeArray(elements, compact: compact, writeElement)
    }

    /// A tagged-field section: count, then (tag, size, bytes) in ascending tag order.
    public mutating func writeTaggedFields(_ fields: [UInt32: [UInt8]] = [:]) {
        writeUnsignedVarint(UInt64(fields.count))
        for (tag, value) in fields.sorted(by: { $0.key < $1.key }) {
            writeUnsignedVarint(UInt64(tag))
            writeUnsignedVarint(UInt64(value.count))
            buffer.writeBytes(value)
        }
    }
}
