/// Produce (key 0) v3-v8, InitProducerId (key 22) v0-v1 and AddPartitionsToTxn (key 24) v0-v2: enough to
/// write (transactional) record batches without librdkafka, for golden test inputs and broker probes.
package struct ProduceRequest: KafkaRequest {
    public static let apiKey: Int16 = 0
    public static let apiName = "Produce"
    public static let supportedVersions: ClosedRange<Int16> = 3...8

    public let version: Int16
    public var transactionalId: String?
    public var acks: Int16
    public var timeoutMs: Int32
    /// Per topic and partition, an encoded record set (one or more v2 batches).
    public var data: [(topic: String, partitions: [(partition: Int32, records: [UInt8])])]

    public init(version: Int16, transactionalId: String?, acks: Int16 = -1, timeoutMs: Int32 = 10_000,
                data: [(topic: String, partitions: [(partition: Int32, records: [UInt8])])]) {
        self.version = version
        self.transactionalId = transactionalId
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.data = data
    }

    public func encodeBody(into writer: inout WireWriter) {
        writer.writeNullableString(transactionalId)
        writer.writeInt16(acks)
        writer.writeInt32(timeoutMs)
        writer.writeArray(data) { writer, topic in
            writer.writeString(topic.topic)
            writer.writeArray(topic.partitions) { writer, partition in
                writer.writeInt32(partition.partition)
                writer.writeNullableBytes(partition.records)
            }
        }
    }

    public func decodeResponse(from reader: inout WireReader) throws -> ProduceResponse {
        let results = try reader.readArray { reader -> [ProduceResponse.PartitionResult] in
            let topic = try reader.readString()
            return try reader.readArray { reader in
                let partition = try reader.readInt32()
                let code = KafkaErrorCode(rawValue: try reader.readInt16())
                let baseOffset = try reader.readInt64()
                _ = try reader.readInt64()  // log_append_time_ms
                if version >= 5 { _ = try reader.readInt64() }  // log_start_offset
                if version >= 8 {
                    _ = try reader.readArray { reader in  // record_errors
                        _ = try reader.readInt32()
                        _ = try reader.readNullableString()
                    }
                    _ = try reader.readNullableString()  // error_message
                }
                return ProduceResponse.PartitionResult(topic: topic, partition: partition, errorCode: code,
                                                       baseOffset: baseOffset)
            }
        }
        _ = try reader.readInt32()  // throttle_time_ms
        return ProduceResponse(results: results.flatMap { $0 })
    }
}

package struct ProduceResponse: Sendable, Hashable {
    public struct PartitionResult: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        public var errorCode: KafkaErrorCode
        public var baseOffset: Int64
    }

    public var results: [PartitionResult]
}

package struct InitProducerIdRequest: KafkaRequest {
    public static let apiKey: Int16 = 22
    public static let apiName = "InitProducerId"
    public static let supportedVersions: ClosedRange<Int16> = 0...1

    public let version: Int16
    public var transactionalId: String?
    public var transactionTimeoutMs: Int32

    public init(version: Int16, transactionalId: String?, transactionTimeoutMs: Int32) {
        self.version = version
        self.transactionalId = transactionalId
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    public func encodeBody(into writer: inout WireWriter) {
        writer.writeNullableString(transactionalId)
        writer.writeInt32(transactionTimeoutMs)
    }

    public func decodeResponse(from reader: inout WireReader) throws -> InitProducerIdResponse {
        _ = try reader.readInt32()  // throttle_time_ms
        return InitProducerIdResponse(errorCode: KafkaErrorCode(rawValue: try reader.readInt16()),
                                      producerId: try reader.readInt64(), producerEpoch: try reader.readInt16())
    }
}

package struct InitProducerIdResponse: Sendable, Hashable {
    public var errorCode: KafkaErrorCode
    public var producerId: Int64
    public var producerEpoch: Int16
}

package struct AddPartitionsToTxnRequest: KafkaRequest {
    public static let apiKey: Int16 = 24
    public static let apiName = "AddPartitionsToTxn"
    public static let supportedVersions: ClosedRange<Int16> = 0...2

    public let version: Int16
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var topics: [(topic: String, partitions: [Int32])]

    public init(version: Int16, transactionalId: String, producerId: Int64, producerEpoch: Int16,
                topics: [(topic: String, partitions: [Int32])]) {
        self.version = version
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.topics = topics
    }

    public func encodeBody(into writer: inout WireWriter) {
        writer.writeString(transactionalId)
        writer.writeInt64(producerId)
        writer.writeInt16(producerEpoch)
        writer.writeArray(topics) { writer, topic in
            writer.writeString(topic.topic)
            writer.writeArray(topic.partitions) { $0.writeInt32($1) }
        }
    }

    public func decodeResponse(from reader: inout WireReader) throws -> [KafkaErrorCode] {
        _ = try reader.readInt32()  // throttle_time_ms
        let perTopic = try reader.readArray { reader -> [KafkaErrorCode] in
            _ = try reader.readString()
            return try reader.readArray { reader in
                _ = try reader.readInt32()
                return KafkaErrorCode(rawValue: try reader.readInt16())
            }
        }
        return perTopic.flatMap { $0 }
    }
}
