import Foundation

/// A key with a hash that is the same in every process and on every machine, so that key groups
/// (and the keyed state written per key group) stay valid across restarts and rescaling.
/// Swift's `Hasher` is randomly seeded per process and must not be used for this.
public protocol StableHashable {
    /// 64-bit FNV-1a over a stable byte encoding of the value.
    var stableHash: UInt64 { get }
}

/// FNV-1a, 64-bit. Hand-written: a few lines, and no allowed package offers a stable hash.
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    @inline(__always)
    public mutating func combine(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    public mutating func combine<C: Sequence>(bytes: C) where C.Element == UInt8 {
        for byte in bytes { combine(byte) }
    }

    public mutating func combine(_ word: UInt64) {
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
    public var stableHash: UInt64 {
        var hasher = FNV1a()
        hasher.combine(UInt64(bitPattern: Int64(self)))
        return hasher.value
    }
}

extension Int64: StableHashable {
    public var stableHash: UInt64 {
        var hasher = FNV1a()
        hasher.combine(UInt64(bitPattern: self))
        return hasher.value
    }
}

extension Int32: StableHashable {}
extension UInt64: StableHashable {}
extension UInt32: StableHashable {}
extension Bool: StableHashable {}
extension Double: StableHashable {}
extension Data: StableHashable {}

extension String: StableHashable {
    public var stableHash: UInt64 {
        var hasher = FNV1a()
        hasher.combine(bytes: utf8)
        return hasher.value
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

    /// Murmur3's 64-bit finalizer spreads FNV's low bits before the modulo.
    @inline(__always)
    static func mix(_ h: UInt64) -> UInt64 {
        var k = h
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    public static func keyGroup<K: StableHashable>(for key: K, maxParallelism: Int) -> Int {
        keyGroup(forHash: key.stableHash, maxParallelism: maxParallelism)
    }

    public static func keyGroup(forHash hash: UInt64, maxParallelism: Int) -> Int {
        Int(mix(hash) % UInt64(maxParallelism))
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
}
