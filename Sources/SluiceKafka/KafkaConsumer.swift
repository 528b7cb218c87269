import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka consumer with manual partition assignment (no group subscription). Its synchronous calls are
/// meant for a dedicated thread; `poll` serves librdkafka's callbacks (statistics, errors) too.
///
/// Defaults it applies unless configured: a placeholder `group.id` (librdkafka needs one even for
/// manual assignment), `fetch.queue.backoff.ms`=10, `fetch.wait.max.ms`=100, `enable.partition.eof`=true,
/// no auto commit and no automatic offset store.
///
/// Offsets: `watermarks` asks the broker (ListOffsets); `cachedWatermarks` and `lastStableOffset` come
/// from the latest Fetch responses (the latter via statistics `ls_offset`, so it needs
/// `statistics.interval.ms` > 0 and regular `poll` calls). Some brokers answer ListOffsets wrongly
/// while a transaction is open, while Fetch's values stay right.
package final class KafkaConsumer: Sendable {
    let client: KafkaClient

    public init(
        configuration: KafkaConfiguration,
        statisticsHandler: KafkaStatisticsHandler? = nil,
        logger: Logger = Logger(label: "sluice.kafka.consumer")
    ) throws(KafkaError) {
        self.client = try KafkaClient(
            type: RD_KAFKA_CONSUMER, configuration: configuration, role: .consumer, logger: logger,
            statisticsHandler: statisticsHandler)
        // Serve statistics and error callbacks from consumer_poll rather than a separate poll call.
        rd_kafka_poll_set_consumer(client.pointer)
    }

    /// Replaces the assignment: each partition starts at its offset (or `KafkaOffset.beginning`,
    /// `.end`, `.stored`).
    public func assign(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        try ensureOpen("assign")
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_assign(client.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "assign") }
    }

    /// The current assignment.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try ensureOpen("assignment")
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let result = rd_kafka_assignment(client.pointer, &list)
        defer { list.map { rd_kafka_topic_partition_list_destroy($0) } }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "assignment") }
        return list.map { TopicPartitionList.entries($0).map(\.topicPartition) } ?? []
    }

    /// Moves assigned partitions to new offsets.
    public func seek(_ offsets: [TopicPartition: Int64], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try ensureOpen("seek")
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(client.pointer, list, KafkaClient.milliseconds(timeout)) {
            throw KafkaError(consuming: error, context: "seek")
        }
        if let error = TopicPartitionList.firstError(list, context: "seek") { throw error }
    }

    public func seek(_ tp: TopicPartition, to offset: Int64, timeout: Duration = .seconds(10)) throws(KafkaError) {
        try seek([tp: offset], timeout: timeout)
    }

    /// Waits up to `timeout` for the first event, then takes what is ready without waiting, up to
    /// `maxRecords` events. Non-fatal errors (including those librdkafka reports through its error
    /// callback, e.g. an assigned topic that does not exist) come back as `.error` events after the
    /// records; a fatal one throws.
    public func poll(maxRecords: Int = 10_000, timeout: Duration) throws(KafkaError) -> [KafkaConsumerEvent] {
        try ensureOpen("poll")
        var events: [KafkaConsumerEvent] = []
        events.reserveCapacity(min(maxRecords, 1024))
        var topics = TopicNameCache()
        var wait = KafkaClient.milliseconds(timeout)
        while events.count < maxRecords {
            guard let message = rd_kafka_consumer_poll(client.pointer, wait) else { break }
            wait = 0
            defer { rd_kafka_message_destroy(message) }
            events.append(try event(from: message, topics: &topics))
        }
        events += try takeClientErrors().map { .error($0) }
        return events
    }

    /// Like `poll`, but hands each event to `body` as it is taken instead of collecting an array, so a
    /// record is built once and never copied on its way to the caller (on a hot path each copy of a
    /// `KafkaRecord` retains and releases its topic, value and headers). Returns how many events came.
    /// The consumer's own errors throw `KafkaError`; an error thrown by `body` stops the poll and is
    /// rethrown as it is.
    public func poll(
        maxEvents: Int, timeout: Duration, each body: (KafkaConsumerEvent) throws -> Void
    ) throws -> Int {
        try ensureOpen("poll")
        var topics = TopicNameCache()
        var wait = KafkaClient.milliseconds(timeout)
        var count = 0
        while count < maxEvents {
            guard let message = rd_kafka_consumer_poll(client.pointer, wait) else { break }
            wait = 0
            defer { rd_kafka_message_destroy(message) }
            count += 1
            try body(try event(from: message, topics: &topics))
        }
        for error in try takeClientErrors() {
            count += 1
            try body(.error(error))
        }
        return count
    }

    private func event(
        from message: UnsafeMutablePointer<rd_kafka_message_t>, topics: inout TopicNameCache
    ) throws(KafkaError) -> KafkaConsumerEvent {
        let m = message.pointee
        switch m.err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return .record(Self.record(from: message, topic: topics.name(of: m.rkt)))
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            return .endOfPartition(TopicPartition(topics.name(of: m.rkt), m.partition), offset: m.offset)
        default:
            let detail = rd_kafka_message_errstr(message).map { String(cString: $0) }
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) }
            let context = topic.map { "consume \($0)-\(m.partition)" } ?? "consume"
            var error = KafkaError(code: m.err, context: context, detail: detail)
            if m.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, let topic {
                return .offsetOutOfRange(TopicPartition(topic, m.partition), offset: m.offset, error)
            }
            if m.err == RD_KAFKA_RESP_ERR__FATAL {
                error.isFatal = true
                throw error
            }
            return .error(client.state.explain(error))
        }
    }

    /// Errors librdkafka reported through its error callback since the last poll; a fatal one throws.
    private func takeClientErrors() throws(KafkaError) -> [KafkaError] {
        let clientErrors = client.state.pendingClientErrors.withLock { errors in
            defer { errors.removeAll() }
            return errors
        }
        if let fatal = clientErrors.first(where: \.isFatal) { throw fatal }
        return clientErrors
    }

    /// Only the records of `poll` (end-of-partition and error events dropped).
    public func pollRecords(maxRecords: Int = 10_000, timeout: Duration) throws(KafkaError) -> [KafkaRecord] {
        try poll(maxRecords: maxRecords, timeout: timeout).compactMap {
            if case .record(let record) = $0 { return record }
            return nil
        }
    }

    /// Stops fetching the partitions (records already fetched are kept) until `resume`.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try ensureOpen("pause")
        let list = TopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_pause_partitions(client.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "pause") }
        if let error = TopicPartitionList.firstError(list, context: "pause") { throw error }
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try ensureOpen("resume")
        let list = TopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_resume_partitions(client.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "resume") }
        if let error = TopicPartitionList.firstError(list, context: "resume") { throw error }
    }

    /// Low and high watermarks asked from the partition leader (ListOffsets).
    public func watermarks(_ tp: TopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> Watermarks {
        try ensureOpen("watermarks")
        var low: Int64 = -1
        var high: Int64 = -1
        let result = rd_kafka_query_watermark_offsets(
            client.pointer, tp.topic, tp.partition, &low, &high, KafkaClient.milliseconds(timeout))
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw client.state.explain(KafkaError(code: result, context: "watermarks of \(tp)"))
        }
        return Watermarks(low: low, high: high)
    }

    /// The watermarks the latest Fetch response reported (no request); -1 when not known yet.
    public func cachedWatermarks(_ tp: TopicPartition) throws(KafkaError) -> Watermarks {
        try ensureOpen("cachedWatermarks")
        var low: Int64 = -1
        var high: Int64 = -1
        let result = rd_kafka_get_watermark_offsets(client.pointer, tp.topic, tp.partition, &low, &high)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: result, context: "cached watermarks of \(tp)")
        }
        return Watermarks(low: low, high: high)
    }

    /// The last stable offset of an assigned partition from the latest statistics report (`ls_offset`,
    /// taken from Fetch responses); nil when no report has it yet or it is negative.
    public func lastStableOffset(_ tp: TopicPartition) -> Int64? {
        guard let offset = statistics?.partition(tp)?.lsOffset, offset >= 0 else { return nil }
        return offset
    }

    /// The next offset to be consumed per partition (from records handed to the application).
    public func position(_ partitions: [TopicPartition]) throws(KafkaError) -> [TopicPartition: Int64] {
        try ensureOpen("position")
        let list = TopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_position(client.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "position") }
        return Dictionary(
            TopicPartitionList.entries(list).map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    /// Commits offsets for the group synchronously (next offsets to consume). For monitoring: Sluice
    /// never reads them back for recovery.
    public func commit(offsets: [TopicPartition: Int64]) throws(KafkaError) {
        try ensureOpen("commit")
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_commit(client.pointer, list, 0)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw client.state.explain(KafkaError(code: result, context: "commit")) }
        if let error = TopicPartitionList.firstError(list, context: "commit") { throw error }
    }

    /// Stores offsets locally to be committed by librdkafka's auto commit (when enabled).
    public func storeOffsets(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        try ensureOpen("storeOffsets")
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_offsets_store(client.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: result, context: "storeOffsets") }
        if let error = TopicPartitionList.firstError(list, context: "storeOffsets") { throw error }
    }

    /// The group's committed offsets, asked from the coordinator.
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError)
        -> [TopicPartition: Int64]
    {
        try ensureOpen("committed")
        let list = TopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_committed(client.pointer, list, KafkaClient.milliseconds(timeout))
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw client.state.explain(KafkaError(code: result, context: "committed"))
        }
        return Dictionary(
            TopicPartitionList.entries(list).map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    /// A topic's partitions (for partition discovery); `.unknownTopicOrPartition` when it does not exist.
    public func describeTopic(_ name: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> TopicDescription {
        guard let description = try client.topicMetadata(topic: name, timeout: timeout).first(where: { $0.name == name }) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, context: "describeTopic \(name)")
        }
        return description
    }

    /// The earliest offset per partition whose record timestamp is at or after the given time
    /// (milliseconds since the epoch); `KafkaOffset.end` where no such record exists yet.
    public func offsetsForTimes(_ times: [TopicPartition: Int64], timeout: Duration = .seconds(10)) throws(KafkaError)
        -> [TopicPartition: Int64]
    {
        try ensureOpen("offsetsForTimes")
        let list = TopicPartitionList.make(times)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_offsets_for_times(client.pointer, list, KafkaClient.milliseconds(timeout))
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw client.state.explain(KafkaError(code: result, context: "offsetsForTimes"))
        }
        if let error = TopicPartitionList.firstError(list, context: "offsetsForTimes") { throw error }
        return Dictionary(
            TopicPartitionList.entries(list).map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    /// The latest statistics report (needs `statistics.interval.ms` > 0 and `poll` calls).
    public var statistics: KafkaStatistics? { client.state.latestStatistics.withLock { $0 } }

    /// Closes the consumer (leaves no group: nothing subscribed) and destroys it. Idempotent.
    public func close() {
        let pointer = client.pointer
        client.close { _ = rd_kafka_consumer_close(pointer) }
    }

    deinit { close() }

    private func ensureOpen(_ what: String) throws(KafkaError) {
        if client.isClosed { throw KafkaError.closed(what) }
    }

    static func record(from message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) -> KafkaRecord {
        let m = message.pointee
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        // Most records carry no headers: librdkafka answers _NOENT without allocating.
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let headerValue = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        return KafkaRecord(
            topic: topic, partition: m.partition, offset: m.offset, key: key, value: value, headers: headers,
            timestamp: type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp,
            timestampType: ClientState.timestampType(type))
    }
}

/// The topic name of the records of one poll, converted once per topic handle rather than per record:
/// a name longer than 15 bytes is a heap-allocated String, and records of one poll share their
/// few topic handles (and then share one String storage, which also makes comparisons cheap).
struct TopicNameCache {
    private var handle: OpaquePointer?
    private var cached = ""

    mutating func name(of topic: OpaquePointer?) -> String {
        guard let topic else { return "" }
        if topic != handle {
            handle = topic
            cached = String(cString: rd_kafka_topic_name(topic))
        }
        return cached
    }
}
