/// Which source subtask reads a topic partition. Stable across runs and processes (no seeded
/// hashing), and it spreads the partitions of one topic round-robin from a topic-dependent start,
/// as Flink's Kafka source enumerator does, so several topics do not all pile onto subtask 0.
public enum KafkaSplitOwnership {
    public static func owner(topic: String, partition: Int32, parallelism: Int) -> Int {
        precondition(parallelism > 0, "parallelism must be positive")
        let start = Int(stableHash(topic) % UInt32(parallelism))
        return (start + Int(partition)) % parallelism
    }

    /// FNV-1a over the topic's UTF-8 bytes.
    static func stableHash(_ text: String) -> UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash
    }
}
