/// Seeded mutations of valid inputs, for fuzzing decoders of bytes that come from outside (Kafka
/// responses, checkpoint metadata): bit flips, truncation, length-like fields set to 0, -1 or huge,
/// bytes inserted, removed and repeated. The same seed gives the same cases, so a failure found by
/// `sluice-fuzz-wire --seed S` is found again by the same command.
public struct SeededMutator: Sendable {
    /// SplitMix64: small, fast, and good enough to spread mutations.
    public struct Generator: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public var generator: Generator

    public init(seed: UInt64) {
        generator = Generator(seed: seed)
    }

    /// Values a decoder must survive in a length, count or offset field.
    static let hostileInt32: [UInt32] = [0, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x0100_0000, 1, 0xFFFF_FFFE]
    static let hostileInt64: [UInt64] = [0, .max, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 1]

    /// One to three mutations of `input`.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &generator) { mutateOnce(&bytes) }
        return bytes
    }

    private mutating func position(in bytes: [UInt8], width: Int = 1) -> Int? {
        guard bytes.count >= width else { return nil }
        return Int.random(in: 0...(bytes.count - width), using: &generator)
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8]) {
        switch Int.random(in: 0..<9, using: &generator) {
        case 0, 1:  // bit flips
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                if let at = position(in: bytes) { bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &generator) }
            }
        case 2:  // truncation
            if !bytes.isEmpty { bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator)) }
        case 3:  // an int32 field set to a hostile value
            if let at = position(in: bytes, width: 4), let value = Self.hostileInt32.randomElement(using: &generator) {
                for index in 0..<4 { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
            }
        case 4:  // an int64 field set to a hostile value
            if let at = position(in: bytes, width: 8), let value = Self.hostileInt64.randomElement(using: &generator) {
                for index in 0..<8 { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(index))) }
            }
        case 5:  // an int16 or a varint byte set to a hostile value
            if let at = position(in: bytes), let value = [UInt8(0), 0xFF, 0x7F, 0x80].randomElement(using: &generator) {
                bytes[at] = value
            }
        case 6:  // random bytes inserted
            let at = position(in: bytes) ?? 0
            let count = Int.random(in: 1...16, using: &generator)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: at)
        case 7:  // a range removed
            if let at = position(in: bytes) {
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...32, using: &generator)))
            }
        default:  // a range repeated
            if let at = position(in: bytes) {
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &generator))
                bytes.insert(contentsOf: bytes[at..<end], at: end)
            }
        }
    }
}
