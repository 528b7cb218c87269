import CRdKafka
import Foundation
import Logging
import Synchronization

/// A transactional Kafka producer: `initTransactions`, then per transaction `beginTransaction`,
/// `produce`/`send`, optionally `sendOffsetsToTransaction`, and `commitTransaction` or
/// `abortTransaction`. Thread-safe; a background thread serves librdkafka's poll loop.
///
/// Errors carry `transactionClass`: `.fatal` (close and create a new producer; fencing is fatal),
/// `.abortable` (abort, then continue), `.retriable` (retry the call).
///
/// It also reads the producer id and epoch (only librdkafka's statistics expose them) and records,
/// from delivery reports, the first offset written to each partition in the current transaction.
package final class KafkaTransactionalProducer: Sendable {
    let producer: KafkaProducer
    public let transactionalId: String

    /// Statistics are turned on (200 ms) when `statistics.interval.ms` is unset, as the producer id
    /// and epoch come from them. Delivery reports of `produce` default to keeping only failures.
    public init(
        configuration: KafkaConfiguration,
        deliveryReports: DeliveryReportRouting = .collectFailures,
        statisticsHandler: KafkaStatisticsHandler? = nil,
        logger: Logger = Logger(label: "sluice.kafka.transactional-producer")
    ) throws(KafkaError) {
        let client = try KafkaClient(
            type: RD_KAFKA_PRODUCER, configuration: configuration, role: .transactionalProducer, logger: logger,
            statisticsHandler: statisticsHandler, deliveryRouting: deliveryReports)
        client.startPolling(name: "sluice-kafka-txn-producer-poll")
        self.producer = KafkaProducer(client: client)
        self.transactionalId = configuration.transactionalId ?? ""
    }

    private var client: KafkaClient { producer.client }

    /// The error that put the producer in librdkafka's fatal state (for example fenced by a newer
    /// producer of its transactional id); nil while it is usable. The calls that fail afterwards
    /// report only its consequences (`_FATAL`, purged deliveries).
    public var fatalState: KafkaError? {
        guard !client.isClosed else { return nil }
        var text = [CChar](repeating: 0, count: 512)
        let code = text.withUnsafeMutableBufferPointer { rd_kafka_fatal_error(client.pointer, $0.baseAddress, $0.count) }
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let detail = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return KafkaError(code: code, context: "fatal producer state", detail: detail, isFatal: true)
    }

    /// Registers the transactional.id with the coordinator, fencing older producers with the same id
    /// and aborting their open transaction. Returns or throws within `timeout`.
    public func initTransactions(timeout: Duration) throws(KafkaError) {
        try call("initTransactions") { rd_kafka_init_transactions($0, KafkaClient.milliseconds(timeout)) }
    }

    /// Starts a transaction and resets `currentTransactionFirstOffsets`.
    public func beginTransaction() throws(KafkaError) {
        client.state.transactionFirstOffsets.withLock { $0 = TransactionFirstOffsets() }
        try call("beginTransaction") { rd_kafka_begin_transaction($0) }
    }

    /// See `KafkaProducer.produce`.
    public func produce(_ record: ProducerRecord, timeout: Duration = .seconds(30)) throws(KafkaError) {
        try producer.produce(record, timeout: timeout)
    }

    /// See `KafkaProducer.send`.
    public func send(_ record: ProducerRecord, timeout: Duration = .seconds(30)) async throws -> DeliveryReport {
        try await producer.send(record, timeout: timeout)
    }

    /// See `KafkaProducer.flush`; afterwards `currentTransactionFirstOffsets` covers every record produced.
    public func flush(timeout: Duration) throws(KafkaError) {
        try producer.flush(timeout: timeout)
    }

    /// Adds consumer offsets to the transaction, committed with it for `groupId`. Offsets are the next
    /// offsets to consume (last processed + 1), as in Kafka.
    public func sendOffsetsToTransaction(
        _ offsets: [TopicPartition: Int64], groupId: String, timeout: Duration
    ) throws(KafkaError) {
        guard let metadata = rd_kafka_consumer_group_metadata_new(groupId) else {
            throw KafkaError.invalidConfiguration(key: "group.id", "could not create group metadata for '\(groupId)'")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try call("sendOffsetsToTransaction") {
            rd_kafka_send_offsets_to_transaction($0, list, metadata, KafkaClient.milliseconds(timeout))
        }
    }

    /// Like `sendOffsetsToTransaction(_:groupId:timeout:)` with the consumer's group metadata.
    public func sendOffsetsToTransaction(
        _ offsets: [TopicPartition: Int64], consumer: KafkaConsumer, timeout: Duration
    ) throws(KafkaError) {
        guard !consumer.client.isClosed, let metadata = rd_kafka_consumer_group_metadata(consumer.client.pointer) else {
            throw KafkaError.closed("sendOffsetsToTransaction: consumer")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        let list = TopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try call("sendOffsetsToTransaction") {
            rd_kafka_send_offsets_to_transaction($0, list, metadata, KafkaClient.milliseconds(timeout))
        }
    }

    /// Flushes and commits the transaction within `timeout`. A `.retriable` error (e.g. timed out)
    /// may be retried by calling this again.
    public func commitTransaction(timeout: Duration) throws(KafkaError) {
        try call("commitTransaction") { rd_kafka_commit_transaction($0, KafkaClient.milliseconds(timeout)) }
    }

    /// Aborts the transaction (records still queued are purged) within `timeout`.
    public func abortTransaction(timeout: Duration) throws(KafkaError) {
        try call("abortTransaction") { rd_kafka_abort_transaction($0, KafkaClient.milliseconds(timeout)) }
    }

    /// The first offset written per partition in the current transaction (from delivery reports
    /// processed so far; call `flush` first for a complete map). Reset by `beginTransaction`.
    public var currentTransactionFirstOffsets: [TopicPartition: Int64] {
        client.state.transactionFirstOffsets.withLock { $0?.byPartition ?? [:] }
    }

    /// The producer id and epoch, from the first statistics report that shows the producer initialised
    /// (`eos.txn_state` Ready or later). Call after `initTransactions`; waits up to `timeout`.
    public func producerIdAndEpoch(timeout: Duration = .seconds(5)) throws(KafkaError) -> ProducerIdAndEpoch {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let eos = client.state.latestStatistics.withLock({ $0?.eos }),
                let state = eos.txnState, !Self.preInitStates.contains(state)
            {
                if state == "FatalError" {
                    throw KafkaError(
                        kind: .fenced, codeName: "_FATAL",
                        message: "producerIdAndEpoch: the producer is in a fatal state", isFatal: true,
                        hint: "close this producer and create a new one")
                }
                if let id = eos.producerId, let epoch = eos.producerEpoch, id >= 0, epoch >= 0 {
                    return ProducerIdAndEpoch(producerId: id, epoch: epoch)
                }
            }
            if client.isClosed { throw KafkaError.closed("producerIdAndEpoch") }
            if ContinuousClock.now >= deadline {
                throw KafkaError(
                    kind: .timedOut, code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, codeName: "_TIMED_OUT",
                    message: "producerIdAndEpoch: no statistics report showed an initialised producer in \(timeout)",
                    isRetriable: true, hint: "call initTransactions first, and keep statistics.interval.ms small")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Async `producerIdAndEpoch` on a dedicated thread.
    public func producerIdAndEpoch(timeout: Duration = .seconds(5)) async throws -> ProducerIdAndEpoch {
        try await runBlocking("sluice-kafka-pid") { [self] in try self.producerIdAndEpoch(timeout: timeout) }
    }

    /// Takes collected delivery reports (see `DeliveryReportRouting`).
    public func drainDeliveryReports() -> [DeliveryReport] { producer.drainDeliveryReports() }

    public var inFlightCount: Int { producer.inFlightCount }

    /// The latest statistics report.
    public var statistics: KafkaStatistics? { producer.statistics }

    /// Stops polling and destroys the client (an open transaction is left to the broker; queued
    /// records are purged). Idempotent.
    public func close() { producer.close() }

    // MARK: Async conveniences: each runs the blocking call on a dedicated thread.

    public func initTransactions(timeout: Duration) async throws {
        try await runBlocking("sluice-kafka-txn") { [self] in try self.initTransactions(timeout: timeout) }
    }

    public func commitTransaction(timeout: Duration) async throws {
        try await runBlocking("sluice-kafka-txn") { [self] in try self.commitTransaction(timeout: timeout) }
    }

    public func abortTransaction(timeout: Duration) async throws {
        try await runBlocking("sluice-kafka-txn") { [self] in try self.abortTransaction(timeout: timeout) }
    }

    public func flush(timeout: Duration) async throws {
        try await producer.flush(timeout: timeout)
    }

    static let preInitStates: Set<String> = ["Init", "WaitPID", "ReadyNotAcked"]

    private func call(_ what: String, _ body: (OpaquePointer) -> OpaquePointer?) throws(KafkaError) {
        guard !client.isClosed else { throw KafkaError.closed(what) }
        if let error = body(client.pointer) {
            throw client.state.explain(KafkaError(consuming: error, context: what))
        }
    }
}
