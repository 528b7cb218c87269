import CRdKafka

/// librdkafka's own mock cluster (`rdkafka_mock.h`), a real part of librdkafka: in-process brokers on
/// loopback that other clients reach through `bootstrap`, with per-request error injection. For tests
/// of broker faults the embedded broker cannot produce (for example a fetch answered with
/// OFFSET_OUT_OF_RANGE); not a broker to test exactly-once against (its transactions are partial).
package final class KafkaMockCluster: @unchecked Sendable {
    // @unchecked: the two pointers are set once in init and freed once in deinit; librdkafka's mock
    // cluster functions are thread-safe (they post to the cluster's own thread).
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    public let bootstrap: String

    /// Fetch's Kafka API key, for `failNextRequests`.
    public static let fetchApiKey: Int16 = 1

    public init(brokers: Int32 = 1) throws(KafkaError) {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.closed("mock cluster configuration") }
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, context: "mock cluster",
                             detail: String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL, context: "mock cluster", detail: "rd_kafka_mock_cluster_new failed")
        }
        self.handle = handle
        self.cluster = cluster
        self.bootstrap = rd_kafka_mock_cluster_bootstraps(cluster).map { String(cString: $0) } ?? ""
    }

    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let result = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "mock topic \(name)") }
    }

    /// The next `codes.count` requests of `apiKey` (to any broker) are answered with these error codes
    /// (Kafka's numbers, e.g. 1 = OFFSET_OUT_OF_RANGE), one each.
    public func failNextRequests(apiKey: Int16, codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, apiKey, $0.count, $0.baseAddress) }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }
}
