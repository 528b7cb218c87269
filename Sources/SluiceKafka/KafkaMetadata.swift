import CRdKafka

/// Topic metadata, shared by the admin client and the consumer (partition discovery).
extension KafkaClient {
    func topicMetadata(topic: String?, timeout: Duration) throws(KafkaError) -> [TopicDescription] {
        if isClosed { throw KafkaError.closed("metadata") }
        let topicHandle = topic.map { rd_kafka_topic_new(pointer, $0, nil) }
        defer { topicHandle?.map { rd_kafka_topic_destroy($0) } }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(
            pointer, topic == nil ? 1 : 0, topicHandle ?? nil, &metadata, KafkaClient.milliseconds(timeout))
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw state.explain(KafkaError(code: result, context: "metadata"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var descriptions: [TopicDescription] = []
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            guard let topic = metadata.pointee.topics?[index] else { continue }
            let name = topic.topic.map { String(cString: $0) } ?? ""
            if topic.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(code: topic.err, context: "metadata of topic \(name)")
            }
            let partitions = (0..<Int(topic.partition_cnt)).compactMap { p -> TopicDescription.Partition? in
                guard let partition = topic.partitions?[p] else { return nil }
                return TopicDescription.Partition(
                    id: partition.id, leader: partition.leader,
                    replicas: Self.ids(partition.replicas, Int(partition.replica_cnt)),
                    inSyncReplicas: Self.ids(partition.isrs, Int(partition.isr_cnt)))
            }
            descriptions.append(TopicDescription(name: name, partitions: partitions.sorted { $0.id < $1.id }))
        }
        return descriptions
    }

    private static func ids(_ pointer: UnsafeMutablePointer<Int32>?, _ count: Int) -> [Int32] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

}
