import CRdKafka

/// Conversions between Swift dictionaries and librdkafka's rd_kafka_topic_partition_list_t.
enum TopicPartitionList {
    /// A new list the caller must destroy with rd_kafka_topic_partition_list_destroy.
    static func make(_ offsets: [TopicPartition: Int64]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        // librdkafka allocates with rd_malloc, which aborts rather than return NULL.
        let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t> =
            rd_kafka_topic_partition_list_new(Int32(clamping: offsets.count))
        for (tp, offset) in offsets.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)?.pointee.offset = offset
        }
        return list
    }

    static func make(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        make(Dictionary(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }, uniquingKeysWith: { a, _ in a }))
    }

    struct Entry {
        var topicPartition: TopicPartition
        var offset: Int64
        var error: rd_kafka_resp_err_t
    }

    static func entries(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [Entry] {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elements = list.pointee.elems else { return [] }
        return (0..<count).map { index in
            let element = elements[index]
            let topic = element.topic.map { String(cString: $0) } ?? ""
            return Entry(topicPartition: TopicPartition(topic, element.partition), offset: element.offset, error: element.err)
        }
    }

    /// The first per-partition error in the list, as a KafkaError.
    static func firstError(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>, context: String) -> KafkaError? {
        entries(list).first { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }.map {
            KafkaError(code: $0.error, context: "\(context) (\($0.topicPartition))")
        }
    }
}
