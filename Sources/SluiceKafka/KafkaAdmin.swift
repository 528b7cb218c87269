import CRdKafka
import Foundation
import Logging

/// A topic to create.
package struct NewTopic: Sendable, Hashable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int16
    /// Topic configs, e.g. "retention.ms". Set them explicitly: some brokers only report
    /// configs that were set at creation.
    public var configs: [String: String]

    public init(name: String, partitions: Int32, replicationFactor: Int16 = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic's partitions as the cluster metadata reports them.
package struct TopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        /// The leader's broker id, or -1 when it has none.
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
    }

    public var name: String
    /// Sorted by id.
    public var partitions: [Partition]
}

/// Topic administration: create, delete, list and describe, each bounded by a timeout.
package final class KafkaAdmin: Sendable {
    let client: KafkaClient

    /// `allow.auto.create.topics` is turned off unless set, so describing a missing topic never
    /// creates it.
    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "sluice.kafka.admin")) throws(KafkaError) {
        var configuration = configuration
        if configuration["allow.auto.create.topics"] == nil { configuration["allow.auto.create.topics"] = "false" }
        self.client = try KafkaClient(type: RD_KAFKA_PRODUCER, configuration: configuration, role: .admin, logger: logger)
        client.startPolling(name: "sluice-kafka-admin-poll")
    }

    /// Creates topics; throws the first per-topic error (`.topicAlreadyExists` when one exists).
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try ensureOpen("createTopics")
        var handles: [OpaquePointer?] = []
        defer { handles.forEach { rd_kafka_NewTopic_destroy($0) } }
        var errorText = [CChar](repeating: 0, count: 512)
        for topic in topics {
            let handle = errorText.withUnsafeMutableBufferPointer {
                rd_kafka_NewTopic_new(topic.name, topic.partitions, Int32(topic.replicationFactor), $0.baseAddress, $0.count)
            }
            guard let handle else {
                throw KafkaError.invalidConfiguration(key: nil, "createTopics \(topic.name): \(Self.text(errorText))")
            }
            handles.append(handle)
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                let result = rd_kafka_NewTopic_set_config(handle, key, value)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError(code: result, context: "createTopics \(topic.name): config '\(key)'")
                }
            }
        }
        try runAdmin("createTopics", RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout) { options, queue in
            handles.withUnsafeMutableBufferPointer {
                rd_kafka_CreateTopics(client.pointer, $0.baseAddress, $0.count, options, queue)
            }
        } result: { event throws(KafkaError) in
            var count = 0
            let results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
            try Self.checkTopicResults(results, count: count, context: "createTopics")
        }
    }

    public func createTopic(
        _ name: String, partitions: Int32, replicationFactor: Int16 = 1, configs: [String: String] = [:],
        timeout: Duration = .seconds(10)
    ) throws(KafkaError) {
        try createTopics([NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor, configs: configs)], timeout: timeout)
    }

    /// Deletes topics; throws the first per-topic error (`.unknownTopicOrPartition` for a missing one).
    public func deleteTopics(_ names: [String], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try ensureOpen("deleteTopics")
        var handles: [OpaquePointer?] = names.map { rd_kafka_DeleteTopic_new($0) }
        defer { handles.forEach { rd_kafka_DeleteTopic_destroy($0) } }
        try runAdmin("deleteTopics", RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout: timeout) { options, queue in
            handles.withUnsafeMutableBufferPointer {
                rd_kafka_DeleteTopics(client.pointer, $0.baseAddress, $0.count, options, queue)
            }
        } result: { event throws(KafkaError) in
            var count = 0
            let results = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count)
            try Self.checkTopicResults(results, count: count, context: "deleteTopics")
        }
    }

    /// Names of all topics in the cluster, sorted.
    public func listTopics(timeout: Duration = .seconds(10)) throws(KafkaError) -> [String] {
        try client.topicMetadata(topic: nil, timeout: timeout).map(\.name).sorted()
    }

    /// A topic's partitions and leaders; `.unknownTopicOrPartition` when the topic does not exist.
    public func describeTopic(_ name: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> TopicDescription {
        guard let description = try client.topicMetadata(topic: name, timeout: timeout).first(where: { $0.name == name }) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, context: "describeTopic \(name)")
        }
        return description
    }

    /// A topic's configuration as the broker reports it (DescribeConfigs): name to value, values
    /// the broker leaves out absent (some brokers report only what was set at creation).
    public func describeTopicConfigs(_ name: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> [String: String] {
        try ensureOpen("describeTopicConfigs")
        var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name)]
        defer { resources.forEach { rd_kafka_ConfigResource_destroy($0) } }
        var configs: [String: String] = [:]
        try runAdmin("describeTopicConfigs \(name)", RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout: timeout) { options, queue in
            resources.withUnsafeMutableBufferPointer {
                rd_kafka_DescribeConfigs(client.pointer, $0.baseAddress, $0.count, options, queue)
            }
        } result: { event throws(KafkaError) in
            var count = 0
            guard let results = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(event), &count) else { return }
            for index in 0..<count {
                guard let resource = results[index] else { continue }
                let code = rd_kafka_ConfigResource_error(resource)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let detail = rd_kafka_ConfigResource_error_string(resource).map { String(cString: $0) }
                    throw KafkaError(code: code, context: "describeTopicConfigs \(name)", detail: detail)
                }
                var entryCount = 0
                guard let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) else { continue }
                for entryIndex in 0..<entryCount {
                    guard let entry = entries[entryIndex], let key = rd_kafka_ConfigEntry_name(entry) else { continue }
                    if let value = rd_kafka_ConfigEntry_value(entry) { configs[String(cString: key)] = String(cString: value) }
                }
            }
        }
        return configs
    }

    /// Stops polling and destroys the client. Idempotent.
    public func close() { client.close() }

    // MARK: Internals

    private func ensureOpen(_ what: String) throws(KafkaError) {
        if client.isClosed { throw KafkaError.closed(what) }
    }

    /// Runs one admin request on a private queue and waits for its result event, bounded by `timeout`.
    private func runAdmin(
        _ what: String, _ operation: rd_kafka_admin_op_t, timeout: Duration,
        start: (OpaquePointer?, OpaquePointer?) -> Void,
        result: (OpaquePointer) throws(KafkaError) -> Void
    ) throws(KafkaError) {
        let milliseconds = KafkaClient.milliseconds(timeout)
        let options = rd_kafka_AdminOptions_new(client.pointer, operation)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errorText = [CChar](repeating: 0, count: 512)
        _ = errorText.withUnsafeMutableBufferPointer {
            rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, $0.baseAddress, $0.count)
        }
        _ = errorText.withUnsafeMutableBufferPointer {
            rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, $0.baseAddress, $0.count)
        }
        let queue = rd_kafka_queue_new(client.pointer)
        defer { rd_kafka_queue_destroy(queue) }
        start(options, queue)
        // The request timeout bounds the operation; the margin lets librdkafka report it itself.
        guard let event = rd_kafka_queue_poll(queue, milliseconds &+ 1000) else {
            throw client.state.explain(KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, context: what))
        }
        defer { rd_kafka_event_destroy(event) }
        let code = rd_kafka_event_error(event)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            let detail = rd_kafka_event_error_string(event).map { String(cString: $0) }
            throw client.state.explain(KafkaError(code: code, context: what, detail: detail))
        }
        try result(event)
    }

    private static func checkTopicResults(
        _ results: UnsafeMutablePointer<OpaquePointer?>?, count: Int, context: String
    ) throws(KafkaError) {
        guard let results else { return }
        for index in 0..<count {
            guard let result = results[index] else { continue }
            let code = rd_kafka_topic_result_error(result)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                let name = rd_kafka_topic_result_name(result).map { String(cString: $0) } ?? "?"
                let detail = rd_kafka_topic_result_error_string(result).map { String(cString: $0) }
                throw KafkaError(code: code, context: "\(context) \(name)", detail: detail)
            }
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
