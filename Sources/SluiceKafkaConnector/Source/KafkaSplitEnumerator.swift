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

    /// The subtask of this worker that reads a partition, or nil when the partition is another
    /// worker's. A worker takes the partitions p with p % workers == index (per topic), so each
    /// partition goes to exactly one worker whatever the topic's partition count, and partitions
    /// added later are spread too. Among its own partitions (index, index + workers, ...), a worker
    /// counts them 0, 1, 2, ... (p / workers) and spreads those round-robin over its subtasks.
    public static func owner(topic: String, partition: Int32, parallelism: Int, worker: KafkaWorkerShare) -> Int? {
        guard worker.owns(partition: partition) else { return nil }
        return owner(topic: topic, partition: partition / Int32(worker.workers), parallelism: parallelism)
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

/// This process's share of a job run as several worker processes: worker `index` of `workers`
/// reads the partitions p with p % workers == index (see `KafkaSplitOwnership`).
public struct KafkaWorkerShare: Sendable, Hashable, CustomStringConvertible {
    public let workers: Int
    public let index: Int

    /// One process reading every partition.
    public static let all = KafkaWorkerShare(uncheckedWorkers: 1, index: 0)

    /// nil when `index` is not in 0..<workers.
    public init?(workers: Int, index: Int) {
        guard workers >= 1, (0..<workers).contains(index) else { return nil }
        self.init(uncheckedWorkers: workers, index: index)
    }

    private init(uncheckedWorkers workers: Int, index: Int) {
        self.workers = workers
        self.index = index
    }

    public func owns(partition: Int32) -> Bool {
        Int(partition) % workers == index
    }

    public var description: String { "worker \(index) of \(workers)" }
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
            where KafkaSplitOwnership.owner(topic: topic, partition: partition, parallelism: parallelism, worker: configuration.worker) == subtaskIndex {
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
