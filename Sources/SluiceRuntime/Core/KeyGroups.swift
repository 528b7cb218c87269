import Foundation

/// A key with a hash that is the same in every process and on every machine, so that key groups
/// (and the keyed state written per key group) stay valid across restarts and rescaling.
/// Swift's `Hasher` is randomly seeded per process and must not be used for this.
///
/// Strings and integers hash as Java's `hashCode` does, so with Flink's key-group function they
/// land in the same key groups as in Flink; other keys use FNV-1a over a stable byte encoding.
/// Only the low 32 bits take part in the key group, as in Flink.
public protocol StableHashable {
    var stableHash: UInt64 { get }
}

/// FNV-1a, 64-bit. Hand-written: a few lines, and no allowed package offers a stable hash.
struct FNV1a: Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    init() {}

    @inline(__always)
    mutating func combine(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    mutating func combine<C: Sequence>(bytes: C) where C.Element == UInt8 {
        for byte in bytes { combine(byte) }
    }

    mutating func combine(_ word: UInt64) {
        var w = word
        for _ in 0..<8 {
            combine(UInt8(truncatingIfNeeded: w))
            w >>= 8
        }
    }
}

extension StableHashable where Self: BinaryCodable {
    public var stableHash: UInt64 {
        var writer = BinaryWriter(capacity: 16)
        encode(to: &writer)
        var hasher = FNV1a()
        hasher.combine(bytes: writer.bytes)
        return hasher.value
    }
}

extension Int: StableHashable {
    /// Java's `Long.hashCode`.
    public var stableHash: UInt64 { Int64(self).stableHash }
}

extension Int64: StableHashable {
    /// Java's `Long.hashCode`: the two halves xor-ed.
    public var stableHash: UInt64 {
        let bits = UInt64(bitPattern: self)
        return UInt64(UInt32(truncatingIfNeeded: bits ^ (bits >> 32)))
    }
}

extension Int32: StableHashable {}
extension UInt64: StableHashable {}
extension UInt32: StableHashable {}
extension Bool: StableHashable {}
extension Double: StableHashable {}
extension Data: StableHashable {}

extension String: StableHashable {
    /// Java's `String.hashCode`: 31-polynomial over UTF-16 code units.
    public var stableHash: UInt64 {
        // An ASCII byte is its own UTF-16 code unit: keys (page names, ids) are nearly always
        // ASCII, and hashing their UTF-8 bytes skips transcoding to UTF-16 for every record.
        let asciiHash = utf8.withContiguousStorageIfAvailable { bytes -> UInt32? in
            var hash: UInt32 = 0
            for byte in bytes {
                guard byte < 0x80 else { return nil }
                hash = hash &* 31 &+ UInt32(byte)
            }
            return hash
        }
        if let asciiHash = asciiHash ?? nil { return UInt64(asciiHash) }
        var hash: UInt32 = 0
        for unit in utf16 { hash = hash &* 31 &+ UInt32(unit) }
        return UInt64(hash)
    }
}

extension Array: StableHashable where Element: BinaryCodable {}

/// A contiguous, inclusive range of key groups owned by one parallel subtask.
public struct KeyGroupRange: Sendable, Hashable, CustomStringConvertible {
    public let start: Int
    /// Inclusive.
    public let end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    public var count: Int { Swift.max(0, end - start + 1) }
    public var isEmpty: Bool { count == 0 }
    public func contains(_ keyGroup: Int) -> Bool { keyGroup >= start && keyGroup <= end }
    public var keyGroups: ClosedRange<Int>? { isEmpty ? nil : start...end }
    public var description: String { "[\(start)...\(end)]" }

    public func intersection(_ other: KeyGroupRange) -> KeyGroupRange {
        KeyGroupRange(start: Swift.max(start, other.start), end: Swift.min(end, other.end))
    }
}

/// Flink's key-group scheme: a key maps to one of `maxParallelism` key groups; subtasks own
/// contiguous ranges of key groups, so rescaling moves whole key groups between subtasks.
public enum KeyGroups {
    public static let defaultMaxParallelism = 128

    /// Flink's `MathUtils.murmurHash`: one Murmur3-32 round and finalizer over the key's 32-bit
    /// hash, made non-negative. Scrambles hash codes whose low bits are poorly spread.
    @inline(__always)
    static func murmur(_ hash: UInt64) -> UInt32 {
        var code = UInt32(truncatingIfNeeded: hash)
        code = code &* 0xcc9e_2d51
        code = (code << 15) | (code >> 17)
        code = code &* 0x1b87_3593
        code = (code << 13) | (code >> 19)
        code = code &* 5 &+ 0xe654_6b64
        code ^= 4
        code ^= code >> 16
        code = code &* 0x85eb_ca6b
        code ^= code >> 13
        code = code &* 0xc2b2_ae35
        code ^= code >> 16
        let signed = Int32(bitPattern: code)
        if signed >= 0 { return UInt32(signed) }
        return signed == Int32.min ? 0 : UInt32(-signed)
    }

    // Called per record by the keyed operators and the hash partitioner.
    @_specialize(exported: false, where K == String)
    @_specialize(exported: false, where K == Int)
    @_specialize(exported: false, where K == Int64)
    public static func keyGroup<K: StableHashable>(for key: K, maxParallelism: Int) -> Int {
        keyGroup(forHash: key.stableHash, maxParallelism: maxParallelism)
    }

    public static func keyGroup(forHash hash: UInt64, maxParallelism: Int) -> Int {
        Int(murmur(hash) % UInt32(maxParallelism))
    }

    /// subtask = keyGroup * parallelism / maxParallelism.
    public static func subtask(forKeyGroup keyGroup: Int, parallelism: Int, maxParallelism: Int) -> Int {
        keyGroup * parallelism / maxParallelism
    }

    /// The key groups subtask `index` owns; the inverse of `subtask(forKeyGroup:...)`.
    public static func range(forSubtask index: Int, parallelism: Int, maxParallelism: Int) -> KeyGroupRange {
        let start = (index * maxParallelism + parallelism - 1) / parallelism
        let end = ((index + 1) * maxParallelism - 1) / parallelism
        return KeyGroupRange(start: start, end: end)
    }

    /// The key groups subtask `index` owns when the process holds only `scope` of them (a worker
    /// of a job split across processes): the scope is split as the whole range would be.
    public static func range(forSubtask index: Int, parallelism: Int, maxParallelism: Int, scope: KeyGroupRange?) -> KeyGroupRange {
        guard let scope, scope.count < maxParallelism else { return range(forSubtask: index, parallelism: parallelism, maxParallelism: maxParallelism) }
        guard !scope.isEmpty else { return KeyGroupRange(start: scope.start, end: scope.start - 1) }
        let local = range(forSubtask: index, parallelism: parallelism, maxParallelism: scope.count)
        return KeyGroupRange(start: scope.start + local.start, end: scope.start + local.end)
    }
}
