import SluiceKafka

/// Which source subtask reads a topic partition. Stable across runs and processes (no seeded
/// hashing), and it spreads the partitions of one topic round-robin from a topic-dependent start,
/// as Flink's Kafka source enumerator does, so several topics do not all pile onto subtask 0.
package enum KafkaSplitOwnership {
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

/// Which splits (topic partitions) one source subtask reads and where a new one starts: the
/// partitions of the configured topics that `KafkaSplitOwnership` gives this subtask, looked up
/// at open and, every `partitionDiscoveryInterval`, again for partitions added since.
struct KafkaSplitEnumerator {
    let configuration: KafkaSourceConfiguration
    let subtaskIndex: Int
    let parallelism: Int
    /// The partition ids of a topic; nil: ask the cluster's metadata.
    let partitionLister: (@Sendable (String) throws -> [Int32])?
    private var lastDiscovery = ContinuousClock.now

    init(configuration: KafkaSourceConfiguration, subtaskIndex: Int, parallelism: Int,
         partitionLister: (@Sendable (String) throws -> [Int32])?) {
        self.configuration = configuration
        self.subtaskIndex = subtaskIndex
        self.parallelism = parallelism
        self.partitionLister = partitionLister
    }

    /// The partitions this subtask owns now.
    func ownedPartitions(_ consumer: KafkaConsumer) throws -> Set<TopicPartition> {
        var owned: Set<TopicPartition> = []
        for topic in configuration.topics {
            let partitions: [Int32]
            if let partitionLister {
                partitions = try partitionLister(topic)
            } else {
                do {
                    partitions = try consumer.describeTopic(topic, timeout: .seconds(10)).partitions.map(\.id)
                } catch {
                    throw KafkaSourceError.kafka(error, context: "listing the partitions of '\(topic)'")
                }
            }
            for partition in partitions
            where KafkaSplitOwnership.owner(topic: topic, partition: partition, parallelism: parallelism) == subtaskIndex {
                owned.insert(TopicPartition(topic, partition))
            }
        }
        return owned
    }

    /// When discovery is due: owned partitions not among `known`, which start at the earliest offset.
    mutating func discoverNew(_ consumer: KafkaConsumer, known: some Collection<TopicPartition>) throws -> Set<TopicPartition> {
        guard let interval = configuration.partitionDiscoveryInterval, ContinuousClock.now - lastDiscovery >= interval else { return [] }
        lastDiscovery = .now
        return try ownedPartitions(consumer).subtracting(known)
    }

    /// Where splits without a checkpointed offset start.
    func startingOffsets(for partitions: Set<TopicPartition>, _ consumer: KafkaConsumer) throws -> [TopicPartition: Int64] {
        switch configuration.startingOffsets {
        case .earliest:
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.beginning) })
        case .latest:
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.end) })
        case .timestamp(let millis):
            guard !partitions.isEmpty else { return [:] }
            do {
                return try consumer.offsetsForTimes(Dictionary(uniqueKeysWithValues: partitions.map { ($0, millis) }))
            } catch {
                throw KafkaSourceError.kafka(error, context: "finding offsets for timestamp \(millis)")
            }
        }
    }
}
