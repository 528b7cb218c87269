import NIOCore

/// Fetch (key 1) v4-v11 (non-flexible, with isolation level and record batches v2).
/// Sessionless: session id 0, epoch -1, so every request names its partitions in full.
package struct FetchRequest: KafkaRequest {
    public static let apiKey: Int16 = 1
    public static let apiName = "Fetch"
    public static let supportedVersions: ClosedRange<Int16> = 4...11

    public enum IsolationLevel: Int8, Sendable {
        case readUncommitted = 0
        case readCommitted = 1
    }

    public struct Partition: Sendable, Hashable {
        public var partition: Int32
        public var fetchOffset: Int64
        public var maxBytes: Int32
        public init(partition: Int32, fetchOffset: Int64, maxBytes: Int32) {
            self.partition = partition
            self.fetchOffset = fetchOffset
            self.maxBytes = maxBytes
        }
    }

    public let version: Int16
    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    public var isolationLevel: IsolationLevel
    public var topics: [(topic: String, partitions: [Partition])]

    public init(version: Int16, maxWaitMs: Int32, minBytes: Int32, maxBytes: Int32,
                isolationLevel: IsolationLevel, topics: [(topic: String, partitions: [Partition])]) {
        self.version = version
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.isolationLevel = isolationLevel
        self.topics = topics
    }

    public func encodeBody(into writer: inout WireWriter) {
        writer.writeInt32(-1)  // replica_id: a consumer
        writer.writeInt32(maxWaitMs)
        writer.writeInt32(minBytes)
        writer.writeInt32(maxBytes)
        writer.writeInt8(isolationLevel.rawValue)
        if version >= 7 {
            writer.writeInt32(0)  // session_id
            writer.writeInt32(-1)  // session_epoch: no session
        }
        writer.writeArray(topics) { writer, topic in
            writer.writeString(topic.topic)
            writer.writeArray(topic.partitions) { writer, partition in
                writer.writeInt32(partition.partition)
                if version >= 9 { writer.writeInt32(-1) }  // current_leader_epoch: unknown
                writer.writeInt64(partition.fetchOffset)
                if version >= 5 { writer.writeInt64(-1) }  // log_start_offset: only for followers
                writer.writeInt32(partition.maxBytes)
            }
        }
        if version >= 7 { writer.writeArray([Int]()) { _, _ in } }  // forgotten_topics_data
        if version >= 11 { writer.writeString("") }  // rack_id
    }

    public func decodeResponse(from reader: inout WireReader) throws -> FetchResponse {
        _ = try reader.readInt32()  // throttle_time_ms
        var errorCode = KafkaErrorCode.none
        if version >= 7 {
            errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
            _ = try reader.readInt32()  // session_id
        }
        let topics = try reader.readArray { reader -> FetchResponse.Topic in
            let name = try reader.readString()
            let partitions = try reader.readArray { reader -> FetchResponse.Partition in
                let partition = try reader.readInt32()
                let code = KafkaErrorCode(rawValue: try reader.readInt16())
                let highWatermark = try reader.readInt64()
                let lastStableOffset = try reader.readInt64()
                let logStartOffset = version >= 5 ? try reader.readInt64() : -1
                let aborted = try reader.readNullableArray { reader in
                    FetchResponse.AbortedTransaction(producerId: try reader.readInt64(), firstOffset: try reader.readInt64())
                }
                if version >= 11 { _ = try reader.readInt32() }  // preferred_read_replica
                let records = try reader.readNullableBytesSlice()
                return FetchResponse.Partition(
                    partition: partition, errorCode: code, highWatermark: highWatermark,
                    lastStableOffset: lastStableOffset, logStartOffset: logStartOffset,
                    abortedTransactions: aborted, records: records)
            }
            return FetchResponse.Topic(topic: name, partitions: partitions)
        }
        return FetchResponse(errorCode: errorCode, topics: topics)
    }
}

package struct FetchResponse: Sendable {
    public struct AbortedTransaction: Sendable, Hashable {
        public var producerId: Int64
        public var firstOffset: Int64
    }

    public struct Partition: Sendable {
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public var highWatermark: Int64
        public var lastStableOffset: Int64
        public var logStartOffset: Int64
        public var abortedTransactions: [AbortedTransaction]?
        /// The raw record set (record batches, the last possibly cut short).
        public var records: ByteBuffer?
    }

    public struct Topic: Sendable {
        public var topic: String
        public var partitions: [Partition]
    }

    public var errorCode: KafkaErrorCode
    public var topics: [Topic]

    public func partition(_ topic: String, _ partition: Int32) -> Partition? {
        topics.first { $0.topic == topic }?.partitions.first { $0.partition == partition }
    }
}
