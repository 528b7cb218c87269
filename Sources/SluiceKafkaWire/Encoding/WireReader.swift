import NIOCore

/// Reads Kafka protocol primitives from a `ByteBuffer`. Reading past the end throws
/// `KafkaWireError.truncated`; it never traps.
package struct WireReader: Sendable {
    package private(set) var buffer: ByteBuffer

    package init(buffer: ByteBuffer) { self.buffer = buffer }
    package init(bytes: [UInt8]) { self.buffer = ByteBuffer(bytes: bytes) }

    package var remaining: Int { buffer.readableBytes }
    package var isAtEnd: Bool { buffer.readableBytes == 0 }

    private func truncated(_ context: String, _ needed: Int) -> KafkaWireError {
        .truncated(context: context, needed: needed, available: buffer.readableBytes)
    }

    // MARK: Fixed width

    package mutating func readInt8() throws -> Int8 {
        guard let value = buffer.readInteger(as: Int8.self) else { throw truncated("int8", 1) }
        return value
    }

    package mutating func readInt16() throws -> Int16 {
        guard let value = buffer.readInteger(endianness: .big, as: Int16.self) else { throw truncated("int16", 2) }
        return value
    }

    package mutating func readInt32() throws -> Int32 {
        guard let value = buffer.readInteger(endianness: .big, as: Int32.self) else { throw truncated("int32", 4) }
        return value
    }

    package mutating func readInt64() throws -> Int64 {
        guard let value = buffer.readInteger(endianness: .big, as: Int64.self) else { throw truncated("int64", 8) }
        return value
    }

    package mutating func readUInt32() throws -> UInt32 {
        guard let value = buffer.readInteger(endianness: .big, as: UInt32.self) else { throw truncated("uint32", 4) }
        return value
    }

    package mutating func readBool() throws -> Bool { try readInt8() != 0 }

    // MARK: Varints

    /// Unsigned LEB128 varint of at most `maxBytes` bytes (5 for 32-bit, 10 for 64-bit values).
    package mutating func readUnsignedVarint(maxBytes: Int = 10) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for index in 0..<maxBytes {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated("varint", index + 1) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw KafkaWireError.malformed("a varint longer than \(maxBytes) bytes")
    }

    /// Zigzag-encoded signed 32-bit varint.
    package mutating func readVarint() throws -> Int32 {
        let raw = try readUnsignedVarint(maxBytes: 5)
        guard raw <= UInt64(UInt32.max) else { throw KafkaWireError.malformed("a 32-bit varint out of range") }
        let value = UInt32(raw)
        return Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// Zigzag-encoded signed 64-bit varint.
    package mutating func readVarlong() throws -> Int64 {
        let value = try readUnsignedVarint(maxBytes: 10)
        return Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// A compact length (unsigned varint N+1); nil for 0 (null).
    private mutating func readCompactLength(_ context: String) throws -> Int? {
        let raw = try readUnsignedVarint(maxBytes: 5)
        if raw == 0 { return nil }
        guard raw - 1 <= UInt64(Int32.max) else { throw KafkaWireError.malformed("\(context) length \(raw - 1)") }
        return Int(raw - 1)
    }

    // MARK: Strings and bytes

    package mutating func readRawBytes(_ count: Int, context: String = "bytes") throws -> [UInt8] {
        guard count >= 0 else { throw KafkaWireError.malformed("negative \(context) length \(count)") }
        guard let bytes = buffer.readBytes(length: count) else { throw truncated(context, count) }
        return bytes
    }

    /// A slice of the next `count` bytes, sharing storage (no copy).
    package mutating func readSlice(_ count: Int, context: String = "bytes") throws -> ByteBuffer {
        guard count >= 0 else { throw KafkaWireError.malformed("negative \(context) length \(count)") }
        guard let slice = buffer.readSlice(length: count) else { throw truncated(context, count) }
        return slice
    }

    private mutating func readUTF8(_ count: Int) throws -> String {
        let bytes = try readRawBytes(count, context: "string")
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw KafkaWireError.malformed("a string that is not valid UTF-8")
        }
        return text
    }

    package mutating func readString() throws -> String {
        guard let value = try readNullableString() else { throw KafkaWireError.malformed("null in a non-nullable string") }
        return value
    }

    package mutating func readNullableString() throws -> String? {
        let length = try readInt16()
        if length < 0 { return nil }
        return try readUTF8(Int(length))
    }

    package mutating func readCompactString() throws -> String {
        guard let value = try readCompactNullableString() else {
            throw KafkaWireError.malformed("null in a non-nullable compact string")
        }
        return value
    }

    package mutating func readCompactNullableString() throws -> String? {
        guard let length = try readCompactLength("compact string") else { return nil }
        return try readUTF8(length)
    }

    package mutating func readBytes() throws -> [UInt8] {
        guard let value = try readNullableBytes() else { throw KafkaWireError.malformed("null in non-nullable bytes") }
        return value
    }

    package mutating func readNullableBytes() throws -> [UInt8]? {
        let length = try readInt32()
        if length < 0 { return nil }
        return try readRawBytes(Int(length))
    }

    /// Nullable int32-length bytes as a shared slice (record sets in Fetch).
    package mutating func readNullableBytesSlice() throws -> ByteBuffer? {
        let length = try readInt32()
        if length < 0 { return nil }
        return try readSlice(Int(length), context: "records")
    }

    package mutating func readCompactNullableBytesSlice() throws -> ByteBuffer? {
        guard let length = try readCompactLength("compact bytes") else { return nil }
        return try readSlice(length, context: "records")
    }

    package mutating func readCompactBytes() throws -> [UInt8] {
        guard let value = try readCompactNullableBytes() else {
            throw KafkaWireError.malformed("null in non-nullable compact bytes")
        }
        return value
    }

    package mutating func readCompactNullableBytes() throws -> [UInt8]? {
        guard let length = try readCompactLength("compact bytes") else { return nil }
        return try readRawBytes(length)
    }

    package mutating func skip(_ count: Int, context: String = "skipped bytes") throws {
        guard count >= 0, buffer.readableBytes >= count else { throw truncated(context, count) }
        buffer.moveReaderIndex(forwardBy: count)
    }

    // MARK: Arrays and tagged fields

    /// An array (int32 count, or compact count+1). A null array reads as empty; use `readNullableArray` to tell.
    package mutating func readArray<Element>(
        compact: Bool = false, _ readElement: (inout WireReader) throws -> Element
    ) throws -> [Element] {
        try readNullableArray(compact: compact, readElement) ?? []
    }

    package mutating func readNullableArray<Element>(
        compact: Bool = false, _ readElement: (inout WireReader) throws -> Element
    ) throws -> [Element]? {
        let count: Int
        if compact {
            guard let length = try readCompactLength("compact array") else { return nil }
            count = length
        } else {
            let length = try readInt32()
            if length < 0 { return nil }
            count = Int(length)
        }
        // Every element takes at least one byte: a larger count is malformed, not a reason to allocate.
        guard count <= buffer.readableBytes else { throw truncated("array of \(count) elements", count) }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try readElement(&self)) }
        return elements
    }

    /// Reads a tagged-field section, returning the raw fields by tag (unknown tags are kept, not interpreted).
    @discardableResult
    package mutating func readTaggedFields() throws -> [UInt32: [UInt8]] {
        let count = try readUnsignedVarint(maxBytes: 5)
        guard count <= UInt64(buffer.readableBytes) else { throw truncated("tagged fields", Int(clamping: count)) }
        var fields: [UInt32: [UInt8]] = [:]
        for _ in 0..<count {
            let tag = try readUnsignedVarint(maxBytes: 5)
            let size = try readUnsignedVarint(maxBytes: 5)
            fields[UInt32(truncatingIfNeeded: tag)] = try readRawBytes(Int(size), context: "tagged field \(tag)")
        }
        return fields
    }
}
