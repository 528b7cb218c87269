/// Metadata (key 3) v1-v8: brokers, and the partitions and leaders of topics.
package struct MetadataRequest: KafkaRequest {
    public static let apiKey: Int16 = 3
    public static let apiName = "Metadata"
    public static let supportedVersions: ClosedRange<Int16> = 1...8
    public let version: Int16
    /// nil asks for all topics.
    public var topics: [String]?

    public init(version: Int16, topics: [String]?) {
        self.version = version
        self.topics = topics
    }

    public func encodeBody(into writer: inout WireWriter) {
        writer.writeNullableArray(topics) { $0.writeString($1) }
        if version >= 4 { writer.writeBool(false) }  // allow_auto_topic_creation
        if version >= 8 {
            writer.writeBool(false)  // include_cluster_authorized_operations
            writer.writeBool(false)  // include_topic_authorized_operations
        }
    }

    public func decodeResponse(from reader: inout WireReader) throws -> MetadataResponse {
        if version >= 3 { _ = try reader.readInt32() }  // throttle_time_ms
        let brokers = try reader.readArray { reader in
            BrokerMetadata(nodeId: try reader.readInt32(), host: try reader.readString(), port: try reader.readInt32(),
                           rack: try reader.readNullableString())
        }
        let clusterId = version >= 2 ? try reader.readNullableString() : nil
        let controllerId = try reader.readInt32()
        let topics = try reader.readArray { reader -> TopicMetadata in
            let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
            let name = try reader.readString()
            let isInternal = try reader.readBool()
            let partitions = try reader.readArray { reader -> PartitionMetadata in
                let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
                let partition = try reader.readInt32()
                let leader = try reader.readInt32()
                let leaderEpoch = version >= 7 ? try reader.readInt32() : -1
                let replicas = try reader.readArray { try $0.readInt32() }
                let isr = try reader.readArray { try $0.readInt32() }
                if version >= 5 { _ = try reader.readArray { try $0.readInt32() } }  // offline_replicas
                return PartitionMetadata(errorCode: errorCode, partition: partition, leaderId: leader,
                                         leaderEpoch: leaderEpoch, replicas: replicas, isr: isr)
            }
            if version >= 8 { _ = try reader.readInt32() }  // topic_authorized_operations
            return TopicMetadata(errorCode: errorCode, name: name, isInternal: isInternal,
                                 partitions: partitions.sorted { $0.partition < $1.partition })
        }
        if version >= 8 { _ = try reader.readInt32() }  // cluster_authorized_operations
        return MetadataResponse(brokers: brokers, clusterId: clusterId, controllerId: controllerId, topics: topics)
    }
}

package struct BrokerMetadata: Sendable, Hashable {
    public var nodeId: Int32
    public var host: String
    public var port: Int32
    public var rack: String?
}

package struct PartitionMetadata: Sendable, Hashable {
    public var errorCode: KafkaErrorCode
    public var partition: Int32
    public var leaderId: Int32
    public var leaderEpoch: Int32
    public var replicas: [Int32]
    public var isr: [Int32]
}

package struct TopicMetadata: Sendable, Hashable {
    public var errorCode: KafkaErrorCode
    public var name: String
    public var isInternal: Bool
    public var partitions: [PartitionMetadata]
}

package struct MetadataResponse: Sendable, Hashable {
    public var brokers: [BrokerMetadata]
    public var clusterId: String?
    public var controllerId: Int32
    public var topics: [TopicMetadata]

    public func broker(_ nodeId: Int32) -> BrokerMetadata? { brokers.first { $0.nodeId == nodeId } }
    public func topic(_ name: String) -> TopicMetadata? { topics.first { $0.name == name } }
}
