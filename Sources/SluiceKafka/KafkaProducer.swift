import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka producer. Thread-safe: any thread may produce; a background thread serves librdkafka's
/// poll loop (delivery reports, statistics, errors).
///
/// Two paths:
/// - `send(_:)` awaits the record's own delivery report (convenient, one allocation per record).
/// - `produce(_:timeout:)` enqueues without waiting (blocking only while librdkafka's queue is full);
///   reports arrive batched per `DeliveryReportRouting`. `flush(timeout:)` waits for all of them.
package final class KafkaProducer: Sendable {
    let client: KafkaClient

    /// Creates the producer; the configuration is validated first (no connection is made until needed).
    public init(
        configuration: KafkaConfiguration,
        deliveryReports: DeliveryReportRouting = .collect,
        statisticsHandler: KafkaStatisticsHandler? = nil,
        logger: Logger = Logger(label: "sluice.kafka.producer")
    ) throws(KafkaError) {
        self.client = try KafkaClient(
            type: RD_KAFKA_PRODUCER, configuration: configuration, role: .producer, logger: logger,
            statisticsHandler: statisticsHandler, deliveryRouting: deliveryReports)
        client.startPolling(name: "sluice-kafka-producer-poll")
    }

    init(client: KafkaClient) {
        self.client = client
    }

    /// Enqueues a record without waiting for delivery. While librdkafka's local queue is full it polls
    /// and retries, up to `timeout`, then throws `.queueFull`. Other errors (unknown partition, record
    /// too large, fatal producer state) throw at once.
    public func produce(_ record: ProducerRecord, timeout: Duration = .seconds(30)) throws(KafkaError) {
        // The common case enqueues at once: the clock is read only once the queue is full.
        guard let first = enqueue(record, waiter: nil) else { return }
        guard first.kind == .queueFull else { throw first }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            rd_kafka_poll(client.pointer, 10)
            guard let error = enqueue(record, waiter: nil) else { return }
            guard error.kind == .queueFull, ContinuousClock.now < deadline else { throw error }
        }
    }

    /// Enqueues a record and awaits its delivery report; throws the delivery error if it failed.
    /// Never blocks the calling thread: a full queue is waited out with `Task.sleep` (up to `timeout`).
    public func send(_ record: ProducerRecord, timeout: Duration = .seconds(30)) async throws -> DeliveryReport {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let waiter = DeliveryWaiter()
        while true {
            guard let error = enqueue(record, waiter: waiter) else { break }
            guard error.kind == .queueFull, ContinuousClock.now < deadline else { throw error }
            try await Task.sleep(for: .milliseconds(2))
        }
        return try await waiter.wait()
    }

    /// Waits until every enqueued record has its delivery report processed, up to `timeout`.
    public func flush(timeout: Duration) throws(KafkaError) {
        guard !client.isClosed else { throw KafkaError.closed("flush") }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let result = rd_kafka_flush(client.pointer, KafkaClient.milliseconds(timeout))
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw client.state.explain(
                KafkaError(code: result, context: "flush: \(rd_kafka_outq_len(client.pointer)) records still queued"))
        }
        // rd_kafka_flush returns once the reports are dequeued; wait until their callbacks finished.
        while client.state.inFlight.load(ordering: .acquiring) > 0 {
            if ContinuousClock.now >= deadline {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, context: "flush: delivery reports still being processed")
            }
            rd_kafka_poll(client.pointer, 1)
        }
        client.state.dispatchPendingReports()
    }

    /// Async `flush` on a dedicated thread.
    public func flush(timeout: Duration) async throws {
        try await runBlocking("sluice-kafka-flush") { [self] in try self.flush(timeout: timeout) }
    }

    /// Takes the reports collected so far (routing `.collect` or `.collectFailures`).
    public func drainDeliveryReports() -> [DeliveryReport] {
        client.state.takePendingReports()
    }

    /// Records enqueued whose delivery report has not been processed yet.
    public var inFlightCount: Int { client.state.inFlight.load(ordering: .acquiring) }

    /// Deliveries that failed since the producer was created.
    public var failedDeliveryCount: Int { client.state.failedDeliveries.load(ordering: .relaxed) }

    /// The latest statistics report (needs `statistics.interval.ms` > 0).
    public var statistics: KafkaStatistics? { client.state.latestStatistics.withLock { $0 } }

    /// Flushes (when `flushTimeout` is given), stops the poll thread and destroys the client.
    /// Idempotent. Records still queued are purged: their delivery reports fail with `_PURGE_QUEUE`
    /// or `_PURGE_INFLIGHT`, so every pending `send` returns.
    public func close(flushTimeout: Duration? = nil) {
        if let flushTimeout, !client.isClosed { try? flush(timeout: flushTimeout) }
        client.close { [client] in Self.purge(client) }
    }

    deinit { close() }

    /// Purges queued and in-flight records and serves their (failed) delivery reports.
    static func purge(_ client: KafkaClient) {
        let pointer = client.pointer
        _ = rd_kafka_purge(pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        let deadline = ContinuousClock.now.advanced(by: .seconds(2))
        while client.state.inFlight.load(ordering: .acquiring) > 0, ContinuousClock.now < deadline {
            rd_kafka_poll(pointer, 10)
        }
    }

    /// Enqueues one record with rd_kafka_produceva (rd_kafka_producev is variadic and cannot be called
    /// from Swift). Returns nil on success.
    func enqueue(_ record: ProducerRecord, waiter: DeliveryWaiter?) -> KafkaError? {
        guard !client.isClosed else { return KafkaError.closed("produce") }
        let opaque = waiter.map { Unmanaged.passRetained($0).toOpaque() }
        client.state.inFlight.add(1, ordering: .relaxed)
        let headerNames = record.headers.isEmpty ? [] : record.headers.map { strdup($0.key) }
        defer { headerNames.forEach { free($0) } }
        let error: OpaquePointer? = record.topic.withCString { topic in
            withOptionalBytes(record.key) { keyPointer, keyCount in
                withOptionalBytes(record.value) { valuePointer, valueCount in
                    // Header values are copied by librdkafka during the call.
                    withHeaderValues(record.headers) { headerValues in
                        // On the stack: a heap array per record showed up in profiles.
                        withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7 + record.headers.count) { values in
                            var count = 0
                            func append(_ vtype: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                                var vu = rd_kafka_vu_t()
                                vu.vtype = vtype
                                fill(&vu)
                                values.initializeElement(at: count, to: vu)
                                count += 1
                            }
                            append(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topic }
                            append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                            if let partition = record.partition {
                                append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition }
                            }
                            if let keyPointer {
                                append(RD_KAFKA_VTYPE_KEY) {
                                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyPointer)
                                    $0.u.mem.size = keyCount
                                }
                            }
                            if let valuePointer {
                                append(RD_KAFKA_VTYPE_VALUE) {
                                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: valuePointer)
                                    $0.u.mem.size = valueCount
                                }
                            }
                            if let timestamp = record.timestamp {
                                append(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestamp }
                            }
                            if let opaque {
                                append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque }
                            }
                            for (index, header) in record.headers.enumerated() {
                                append(RD_KAFKA_VTYPE_HEADER) {
                                    $0.u.header.name = UnsafePointer(headerNames[index])
                                    $0.u.header.val = headerValues[index].pointer
                                    $0.u.header.size = header.value == nil ? 0 : headerValues[index].count
                                }
                            }
                            let result = rd_kafka_produceva(client.pointer, values.baseAddress, count)
                            values.baseAddress.map { _ = $0.deinitialize(count: count) }
                            return result
                        }
                    }
                }
            }
        }
        guard let error else { return nil }
        client.state.inFlight.subtract(1, ordering: .relaxed)
        if let opaque { Unmanaged<DeliveryWaiter>.fromOpaque(opaque).release() }
        return KafkaError(consuming: error, context: "produce to \(record.topic)")
    }
}

/// Calls `body` with the bytes' address and count, or (nil, 0) for nil.
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { buffer in
        // An empty array may have no address; librdkafka needs a non-null pointer for an empty payload.
        body(buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), buffer.count)
    }
}

/// Copies header values into one buffer kept alive for `body` (librdkafka copies them during the call).
func withHeaderValues<R>(_ headers: [KafkaHeader], _ body: ([(pointer: UnsafeRawPointer?, count: Int)]) -> R) -> R {
    if headers.isEmpty { return body([]) }
    var storage: [UInt8] = []
    var ranges: [(start: Int, count: Int, isNull: Bool)] = []
    for header in headers {
        ranges.append((storage.count, header.value?.count ?? 0, header.value == nil))
        storage.append(contentsOf: header.value ?? [])
    }
    storage.append(0)
    return storage.withUnsafeBytes { buffer in
        body(ranges.map { range in
            (range.isNull ? nil : buffer.baseAddress.map { UnsafeRawPointer($0 + range.start) }, range.count)
        })
    }
}
