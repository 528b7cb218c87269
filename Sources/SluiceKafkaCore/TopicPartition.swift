/// A topic and a partition number.
public struct TopicPartition: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public init(topic: String, partition: Int32) {
        self.init(topic, partition)
    }

    /// "topic-partition", the form Kafka tools print.
    public var description: String { "\(topic)-\(partition)" }

    /// By topic, then partition.
    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}
