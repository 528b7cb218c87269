import CRdKafka

/// A record header. A nil value is a header with a null value, which Kafka distinguishes from empty.
public struct KafkaHeader: Hashable, Sendable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, value: String) {
        self.init(key: key, value: Array(value.utf8))
    }
}

/// How a record's timestamp was set.
public enum KafkaTimestampType: Sendable, Hashable {
    case createTime
    case logAppendTime
}

/// A record to produce.
package struct ProducerRecord: Sendable, Hashable {
    public var topic: String
    /// Nil lets the configured partitioner choose (by key hash, or sticky for null keys).
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the Unix epoch; nil lets librdkafka use the current time.
    public var timestamp: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?,
        headers: [KafkaHeader] = [], timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// Convenience for UTF-8 text keys and values.
    public init(
        topic: String, partition: Int32? = nil, key: String?, value: String?,
        headers: [KafkaHeader] = [], timestamp: Int64? = nil
    ) {
        self.init(
            topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) },
            headers: headers, timestamp: timestamp)
    }
}

/// The outcome of producing one record: where it landed, or why it did not.
package struct DeliveryReport: Sendable {
    public var topic: String
    public var partition: Int32
    /// The record's offset, or -1 when delivery failed (or with acks=0).
    public var offset: Int64
    /// Milliseconds since the Unix epoch, when known.
    public var timestamp: Int64?
    public var timestampType: KafkaTimestampType?
    /// Nil on success.
    public var error: KafkaError?

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    public var isSuccess: Bool { error == nil }
}

/// A consumed record.
public struct KafkaRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the Unix epoch, when the record carries one.
    public var timestamp: Int64?
    public var timestampType: KafkaTimestampType?

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    /// The value decoded as UTF-8 (lossy), for text payloads.
    public var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
    /// The key decoded as UTF-8 (lossy), for text keys.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

/// What `KafkaConsumer.poll` hands back, in the order librdkafka delivered it.
package enum KafkaConsumerEvent: Sendable {
    case record(KafkaRecord)
    /// The consumer reached the end of the partition: `offset` is the next offset to be written
    /// (needs `enable.partition.eof`, which `KafkaConsumer` turns on by default).
    case endOfPartition(TopicPartition, offset: Int64)
    /// A non-fatal consumer error (for example an unknown topic or a broker connection problem).
    case error(KafkaError)
    /// The broker no longer (or not yet) holds `offset` of the partition, and `auto.offset.reset`
    /// is `error`, so librdkafka stopped fetching it instead of jumping elsewhere
    /// (`_AUTO_OFFSET_RESET`). The partition resumes only when it is assigned or seeked again.
    case offsetOutOfRange(TopicPartition, offset: Int64, KafkaError)
}

/// Low and high watermark offsets of a partition.
package struct Watermarks: Sendable, Hashable {
    public var low: Int64
    public var high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}


/// librdkafka's logical offsets, which `KafkaOffset` (in SluiceKafkaCore, without librdkafka) spells
/// as numbers; a test checks they agree.
let librdkafkaLogicalOffsets: [Int64] = [
    Int64(RD_KAFKA_OFFSET_BEGINNING), Int64(RD_KAFKA_OFFSET_END), Int64(RD_KAFKA_OFFSET_STORED),
]
