import Foundation

/// Errors reading serialized state; each names what was being read.
public enum StateSerializationError: Error, CustomStringConvertible, Equatable {
    case truncated(needed: Int, available: Int)
    case invalidData(String)
    case unsupportedType(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "Serialized state is truncated: needed \(needed) more bytes, only \(available) left. The file is damaged or was written by another format."
        case .invalidData(let why):
            return "Serialized state is invalid: \(why)"
        case .unsupportedType(let type):
            return "No state serializer for type \(type): conform it to BinaryCodable or Codable, or pass a StateSerializer explicitly."
        }
    }
}

/// A growable little-endian byte buffer for the compact binary state format.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeUInt32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeUInt64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeInt64(_ value: Int64) { writeUInt64(UInt64(bitPattern: value)) }

    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// LEB128 variable-length unsigned integer: small counts and lengths take one byte.
    public mutating func writeVarUInt(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func writeVarInt(_ value: Int) { writeVarUInt(UInt64(value)) }

    /// Length-prefixed bytes.
    public mutating func writeBytes<C: Collection>(_ value: C) where C.Element == UInt8 {
        writeVarUInt(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Bytes without a length prefix.
    public mutating func writeRaw<C: Collection>(_ value: C) where C.Element == UInt8 {
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in
            writeVarUInt(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Reserves 8 bytes to be filled later with `patchUInt64(_:at:)`; returns their position.
    public mutating func reserveUInt64() -> Int {
        let position = bytes.count
        writeUInt64(0)
        return position
    }

    public mutating func patchUInt64(_ value: UInt64, at position: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<8 { bytes[position + i] = raw[i] }
        }
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }
}

/// Reads what `BinaryWriter` wrote, over a shared byte array without copying it.
public struct BinaryReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int
    public let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    public init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    public var remaining: Int { end - position }
    public var isAtEnd: Bool { position >= end }

    @inline(__always)
    private func require(_ n: Int) throws {
        if n < 0 || end - position < n { throw StateSerializationError.truncated(needed: n, available: end - position) }
    }

    public mutating func readUInt8() throws -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func readUInt32() throws -> UInt32 {
        try require(4)
        let p = position
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p, as: UInt32.self) }
        position += 4
        return UInt32(littleEndian: value)
    }

    public mutating func readUInt64() throws -> UInt64 {
        try require(8)
        let p = position
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p, as: UInt64.self) }
        position += 8
        return UInt64(littleEndian: value)
    }

    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64()) }

    public mutating func readBool() throws -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let other: throw StateSerializationError.invalidData("a Bool byte was \(other)")
        }
    }

    public mutating func readVarUInt() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            if shift >= 64 { throw StateSerializationError.invalidData("a variable-length integer is longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    public mutating func readVarInt() throws -> Int {
        let value = try readVarUInt()
        guard value <= UInt64(Int.max) else { throw StateSerializationError.invalidData("a length \(value) is out of range") }
        return Int(value)
    }

    /// Reads a length prefix and returns the range of the bytes that follow, skipping them.
    public mutating func readLengthPrefixedRange() throws -> Range<Int> {
        let length = try readVarInt()
        try require(length)
        defer { position += length }
        return position..<(position + length)
    }

    public mutating func readBytes() throws -> [UInt8] {
        let range = try readLengthPrefixedRange()
        return Array(bytes[range])
    }

    public mutating func readRaw(count: Int) throws -> ArraySlice<UInt8> {
        try require(count)
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    public mutating func skip(_ count: Int) throws {
        try require(count)
        position += count
    }

    public mutating func readString() throws -> String {
        let range = try readLengthPrefixedRange()
        return bytes.withUnsafeBufferPointer { buffer in
            String(decoding: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self)
        }
    }
}

/// A type with a compact, stable binary encoding: the fast path for keys and state values.
public protocol BinaryCodable: SendableMetatype {
    func encode(to writer: inout BinaryWriter)
    init(from reader: inout BinaryReader) throws
}

extension Int: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeInt64(Int64(self)) }
    public init(from reader: inout BinaryReader) throws { self = Int(try reader.readInt64()) }
}

extension Int64: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeInt64(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readInt64() }
}

extension Int32: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeUInt32(UInt32(bitPattern: self)) }
    public init(from reader: inout BinaryReader) throws { self = Int32(bitPattern: try reader.readUInt32()) }
}

extension UInt64: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeUInt64(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readUInt64() }
}

extension UInt32: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeUInt32(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readUInt32() }
}

extension UInt8: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeUInt8(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readUInt8() }
}

extension Double: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeUInt64(bitPattern) }
    public init(from reader: inout BinaryReader) throws { self = Double(bitPattern: try reader.readUInt64()) }
}

extension Bool: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeBool(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readBool() }
}

extension String: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeString(self) }
    public init(from reader: inout BinaryReader) throws { self = try reader.readString() }
}

extension Data: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) { writer.writeBytes(self) }
    public init(from reader: inout BinaryReader) throws {
        let range = try reader.readLengthPrefixedRange()
        self = Data(reader.bytes[range])
    }
}

extension Array: BinaryCodable where Element: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) {
        // Bytes in one piece. Not `self as? [UInt8]`: in generic code that cast converts element by
        // element (the pass-through's keys spent most of their time there); when the element type
        // is UInt8 the two array types are one type, so the bit cast is an identity.
        if Element.self == UInt8.self {
            writer.writeBytes(unsafeBitCast(self, to: [UInt8].self))
            return
        }
        writer.writeVarUInt(UInt64(count))
        for element in self { element.encode(to: &writer) }
    }

    public init(from reader: inout BinaryReader) throws {
        if Element.self == UInt8.self {
            // The identity cast of `encode`, the other way.
            self = unsafeBitCast(try reader.readBytes(), to: [Element].self)
            return
        }
        let count = try reader.readVarInt()
        var result: [Element] = []
        result.reserveCapacity(Swift.min(count, reader.remaining))
        for _ in 0..<count { result.append(try Element(from: &reader)) }
        self = result
    }
}

extension Optional: BinaryCodable where Wrapped: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) {
        switch self {
        case .none: writer.writeUInt8(0)
        case .some(let value):
            writer.writeUInt8(1)
            value.encode(to: &writer)
        }
    }

    public init(from reader: inout BinaryReader) throws {
        self = try reader.readBool() ? .some(try Wrapped(from: &reader)) : .none
    }
}

/// Turns values of one type into bytes of the checkpoint format and back.
public protocol StateSerializer<Value>: Sendable {
    associatedtype Value
    func serialize(_ value: Value, into writer: inout BinaryWriter) throws
    func deserialize(from reader: inout BinaryReader) throws -> Value
}

/// The fast serializer for `BinaryCodable` values.
public struct BinaryCodableSerializer<Value: BinaryCodable>: StateSerializer {
    public init() {}
    public func serialize(_ value: Value, into writer: inout BinaryWriter) { value.encode(to: &writer) }
    public func deserialize(from reader: inout BinaryReader) throws -> Value { try Value(from: &reader) }
}

/// The fallback for any `Codable` value: JSON per value, length-prefixed. Slower than
/// `BinaryCodable`; conform hot state types to `BinaryCodable` instead.
public struct CodableSerializer<Value: Codable>: StateSerializer {
    public init() {}
    public func serialize(_ value: Value, into writer: inout BinaryWriter) throws {
        writer.writeBytes(try JSONEncoder().encode(value))
    }
    public func deserialize(from reader: inout BinaryReader) throws -> Value {
        let range = try reader.readLengthPrefixedRange()
        return try JSONDecoder().decode(Value.self, from: Data(reader.bytes[range]))
    }
}

/// A type-erased serializer the state tables hold.
public struct AnyStateSerializer<Value>: StateSerializer {
    private let serializeBody: @Sendable (Value, inout BinaryWriter) throws -> Void
    private let deserializeBody: @Sendable (inout BinaryReader) throws -> Value

    public init<S: StateSerializer>(_ serializer: S) where S.Value == Value {
        serializeBody = { try serializer.serialize($0, into: &$1) }
        deserializeBody = { try serializer.deserialize(from: &$0) }
    }

    init(
        serialize: @escaping @Sendable (Value, inout BinaryWriter) throws -> Void,
        deserialize: @escaping @Sendable (inout BinaryReader) throws -> Value
    ) {
        serializeBody = serialize
        deserializeBody = deserialize
    }

    public func serialize(_ value: Value, into writer: inout BinaryWriter) throws { try serializeBody(value, &writer) }
    public func deserialize(from reader: inout BinaryReader) throws -> Value { try deserializeBody(&reader) }

    /// Picks a serializer by the value's runtime type: `BinaryCodable` first, then `Codable` (JSON).
    /// Used where the API cannot constrain the type statically (window accumulators).
    public static func automatic() throws -> AnyStateSerializer<Value> {
        if let binaryType = Value.self as? any BinaryCodable.Type {
            return AnyStateSerializer(
                serialize: { value, writer in
                    guard let encodable = value as? any BinaryCodable else {
                        throw StateSerializationError.unsupportedType(String(describing: Value.self))
                    }
                    encodable.encode(to: &writer)
                },
                deserialize: { reader in
                    let decoded = try binaryType.init(from: &reader)
                    guard let typed = decoded as? Value else {
                        throw StateSerializationError.unsupportedType(String(describing: Value.self))
                    }
                    return typed
                })
        }
        if Value.self is any Codable.Type {
            return AnyStateSerializer(
                serialize: { value, writer in
                    guard let encodable = value as? any Encodable else {
                        throw StateSerializationError.unsupportedType(String(describing: Value.self))
                    }
                    writer.writeBytes(try JSONEncoder().encode(encodable))
                },
                deserialize: { reader in
                    let range = try reader.readLengthPrefixedRange()
                    guard let decodableType = Value.self as? any Decodable.Type else {
                        throw StateSerializationError.unsupportedType(String(describing: Value.self))
                    }
                    let decoded = try decodeJSON(decodableType, Data(reader.bytes[range]))
                    guard let typed = decoded as? Value else {
                        throw StateSerializationError.unsupportedType(String(describing: Value.self))
                    }
                    return typed
                })
        }
        throw StateSerializationError.unsupportedType(String(describing: Value.self))
    }
}

private func decodeJSON<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
    try JSONDecoder().decode(type, from: data)
}

/// CRC-32 (IEEE 802.3, the zlib polynomial). Written by hand: none of the project's allowed
/// packages exposes a checksum, and the runtime links no C library for it.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var c = UInt32(index)
        for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
        return c
    }

    static func checksum<C: Collection>(_ bytes: C, initial: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        let table = Self.table
        var crc = ~initial
        let done: Bool? = bytes.withContiguousStorageIfAvailable { buffer in
            table.withUnsafeBufferPointer { t in
                for byte in buffer { crc = t[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
            return true
        }
        if done == nil {
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }
}
