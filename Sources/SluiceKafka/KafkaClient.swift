import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// An `rd_kafka_t` pointer that may cross threads.
struct RdKafkaHandle: @unchecked Sendable {
    // Safe: librdkafka's rd_kafka_t is thread-safe for all calls SluiceKafka makes on it; its lifetime is
    // owned by `KafkaClient`, which destroys it only in `close()`.
    let pointer: OpaquePointer
}

/// A handler of librdkafka statistics, called on the polling thread.
package typealias KafkaStatisticsHandler = @Sendable (KafkaStatistics) -> Void
/// A handler of batches of delivery reports, called on the producer's polling thread after each poll.
package typealias KafkaDeliveryReportHandler = @Sendable ([DeliveryReport]) -> Void

/// Where delivery reports of records enqueued with `produce` (not `send`) go.
package enum DeliveryReportRouting: Sendable {
    /// Kept until `drainDeliveryReports()`: drain regularly, or memory grows with every record.
    case collect
    /// Only failed deliveries are kept for `drainDeliveryReports()`; successes are counted and dropped.
    case collectFailures
    /// Handed in batches to the handler on the producer's polling thread (after each poll, and in `flush`).
    case handler(KafkaDeliveryReportHandler)
}

/// Waits for the delivery report of one record sent with `KafkaProducer.send`.
final class DeliveryWaiter: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<DeliveryReport, any Error>)
        case done(DeliveryReport)
        case consumed
    }

    private let state = Mutex<State>(.pending)

    func complete(_ report: DeliveryReport) {
        let continuation: CheckedContinuation<DeliveryReport, any Error>? = state.withLock { state in
            switch state {
            case .waiting(let continuation):
                state = .consumed
                return continuation
            case .pending:
                state = .done(report)
                return nil
            case .done, .consumed:
                return nil
            }
        }
        continuation.map { Self.resume($0, with: report) }
    }

    func wait() async throws -> DeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let ready: DeliveryReport? = state.withLock { state in
                if case .done(let report) = state {
                    state = .consumed
                    return report
                }
                state = .waiting(continuation)
                return nil
            }
            ready.map { Self.resume(continuation, with: $0) }
        }
    }

    private static func resume(_ continuation: CheckedContinuation<DeliveryReport, any Error>, with report: DeliveryReport) {
        if let error = report.error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume(returning: report)
        }
    }
}

/// The Swift state librdkafka's callbacks reach through the configuration opaque. It is retained for
/// the lifetime of the `rd_kafka_t` and released after `rd_kafka_destroy`.
final class ClientState: Sendable {
    let logger: Logger
    let statisticsHandler: KafkaStatisticsHandler?
    let deliveryRouting: DeliveryReportRouting
    /// Serialises calls of the delivery handler (the poll thread and `flush` both dispatch).
    private let dispatchLock = Mutex<Void>(())

    let latestStatistics = Mutex<KafkaStatistics?>(nil)
    /// The last connection-level error (all brokers down, transport, resolve), cleared when statistics
    /// show a broker up. Used to tell "broker unreachable" from a plain timeout.
    let connectionProblem = Mutex<KafkaError?>(nil)
    /// Reports of records produced without a waiter: handed to `deliveryHandler` after each poll, or
    /// kept for `drainDeliveryReports()` when there is no handler.
    let pendingReports = Mutex<[DeliveryReport]>([])
    /// Records enqueued whose delivery report has not finished processing.
    let inFlight = Atomic<Int>(0)
    let failedDeliveries = Atomic<Int>(0)
    /// Errors from the error callback, kept for a consumer's next `poll` (librdkafka reports some
    /// consumer problems, such as an assigned topic that does not exist, only there).
    let pendingClientErrors = Mutex<[KafkaError]>([])
    /// Whether client errors are kept for `poll` (consumers only).
    let keepsClientErrors: Bool
    /// First offset per partition of the current transaction; nil while not tracking.
    let transactionFirstOffsets = Mutex<TransactionFirstOffsets?>(nil)

    init(
        logger: Logger, statisticsHandler: KafkaStatisticsHandler?, deliveryRouting: DeliveryReportRouting,
        keepsClientErrors: Bool
    ) {
        self.logger = logger
        self.keepsClientErrors = keepsClientErrors
        self.statisticsHandler = statisticsHandler
        self.deliveryRouting = deliveryRouting
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ClientState? {
        opaque.map { Unmanaged<ClientState>.fromOpaque($0).takeUnretainedValue() }
    }

    func handleDelivery(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let succeeded = m.err == RD_KAFKA_RESP_ERR_NO_ERROR
        if succeeded {
            // Per record on the hot path: no String and no hashing unless the partition is new.
            transactionFirstOffsets.withLock { offsets in
                offsets?.record(topic: m.rkt, partition: m.partition, offset: m.offset)
            }
        } else {
            failedDeliveries.add(1, ordering: .relaxed)
        }
        if let opaque = m._private {
            Unmanaged<DeliveryWaiter>.fromOpaque(opaque).takeRetainedValue().complete(Self.report(from: message))
        } else {
            switch deliveryRouting {
            case .collect, .handler:
                let report = Self.report(from: message)
                pendingReports.withLock { $0.append(report) }
            case .collectFailures:
                // Successful reports are only counted (through `inFlight`): building one costs a String.
                if !succeeded {
                    let report = Self.report(from: message)
                    pendingReports.withLock { $0.append(report) }
                }
            }
        }
        inFlight.subtract(1, ordering: .releasing)
    }

    /// Hands pending reports to the delivery handler (when there is one).
    func dispatchPendingReports() {
        guard case .handler(let deliveryHandler) = deliveryRouting else { return }
        dispatchLock.withLock { _ in
            let batch = takePendingReports()
            if !batch.isEmpty { deliveryHandler(batch) }
        }
    }

    func takePendingReports() -> [DeliveryReport] {
        pendingReports.withLock { reports -> [DeliveryReport] in
            let batch = reports
            reports.removeAll(keepingCapacity: true)
            return batch
        }
    }

    func handleStatistics(_ json: UnsafeRawBufferPointer) {
        let data = Data(json)
        do {
            var statistics = try JSONDecoder().decode(KafkaStatistics.self, from: data)
            statistics.json = String(decoding: data, as: UTF8.self)
            let snapshot = statistics
            latestStatistics.withLock { $0 = snapshot }
            if statistics.brokers?.values.contains(where: { $0.state == "UP" }) ?? false {
                connectionProblem.withLock { $0 = nil }
            }
            statisticsHandler?(statistics)
        } catch {
            logger.warning("could not decode librdkafka statistics", metadata: ["error": "\(error)"])
        }
    }

    func handleError(code: Int32, reason: String, handle: OpaquePointer?) {
        let err = rd_kafka_resp_err_t(rawValue: code)
        var fatal = false
        var error = KafkaError(code: err, context: "client error", detail: reason)
        if err == RD_KAFKA_RESP_ERR__FATAL, let handle {
            var text = [CChar](repeating: 0, count: 512)
            let underlying = text.withUnsafeMutableBufferPointer { rd_kafka_fatal_error(handle, $0.baseAddress, $0.count) }
            let detail = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            error = KafkaError(code: underlying, context: "fatal client error", detail: detail, isFatal: true)
            fatal = true
        }
        if error.kind == .brokerUnreachable {
            let problem = error
            connectionProblem.withLock { $0 = problem }
        }
        if keepsClientErrors {
            let kept = error
            pendingClientErrors.withLock { errors in
                // Bounded: a consumer that is not polled must not grow without limit.
                if errors.count >= 100 { errors.removeFirst() }
                errors.append(kept)
            }
        }
        let level: Logger.Level = fatal ? .error : (err == RD_KAFKA_RESP_ERR__TRANSPORT ? .info : .warning)
        logger.log(level: level, "\(error)")
    }

    /// Turns a timeout into `.brokerUnreachable` when the client has had no broker connection.
    func explain(_ error: KafkaError) -> KafkaError {
        guard error.kind == .timedOut, let problem = connectionProblem.withLock({ $0 }) else { return error }
        var explained = error
        explained.kind = .brokerUnreachable
        explained.message += " (no broker reachable: \(problem.message))"
        explained.hint = KafkaError.defaultHint(for: .brokerUnreachable)
        return explained
    }

    static func report(from message: UnsafePointer<rd_kafka_message_t>) -> DeliveryReport {
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        let error: KafkaError? =
            m.err == RD_KAFKA_RESP_ERR_NO_ERROR
            ? nil : KafkaError(code: m.err, context: "delivery to \(topic)-\(m.partition) failed")
        return DeliveryReport(
            topic: topic, partition: m.partition, offset: m.offset,
            timestamp: type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp,
            timestampType: timestampType(type), error: error)
    }

    static func timestampType(_ type: rd_kafka_timestamp_type_t) -> KafkaTimestampType? {
        switch type {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: return .createTime
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: return .logAppendTime
        default: return nil
        }
    }
}

/// A named thread that calls `body` until stopped: serves rd_kafka_poll so callbacks run without the
/// application polling. Owner: exactly one `KafkaClient` (`startPolling`), which stops and joins it in
/// `close` (and so in `deinit`) before destroying the handle; nothing else holds it. A dedicated thread
/// rather than a task: `rd_kafka_poll` blocks for up to 50 ms per call, which must not occupy Swift's
/// cooperative pool.
final class PollThread: Sendable {
    private final class StopFlag: Sendable {
        let requested = Atomic<Bool>(false)
    }

    private let stop = StopFlag()
    private let finished = DispatchSemaphore(value: 0)
    private let joined = Mutex<Bool>(false)

    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [stop, finished] in
            while !stop.requested.load(ordering: .acquiring) { body() }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the loop and waits for the thread to leave it. Idempotent.
    func stopAndJoin() {
        stop.requested.store(true, ordering: .releasing)
        let mustWait = joined.withLock { joined -> Bool in
            defer { joined = true }
            return !joined
        }
        if mustWait { finished.wait() }
    }
}

/// Owns one `rd_kafka_t`, its callback state, and optionally a polling thread.
final class KafkaClient: Sendable {
    let handle: RdKafkaHandle
    let state: ClientState
    let isConsumer: Bool
    private let pollThread = Mutex<PollThread?>(nil)
    private let closedFlag = Atomic<Bool>(false)

    var isClosed: Bool { closedFlag.load(ordering: .acquiring) }
    var pointer: OpaquePointer { handle.pointer }

    init(
        type: rd_kafka_type_t, configuration: KafkaConfiguration, role: KafkaConfiguration.Role, logger: Logger,
        statisticsHandler: KafkaStatisticsHandler? = nil, deliveryRouting: DeliveryReportRouting = .collectFailures
    ) throws(KafkaError) {
        let conf = try configuration.makeNativeConfiguration(for: role)
        let state = ClientState(
            logger: logger, statisticsHandler: statisticsHandler, deliveryRouting: deliveryRouting,
            keepsClientErrors: type == RD_KAFKA_CONSUMER)
        let opaque = Unmanaged.passRetained(state).toOpaque()
        rd_kafka_conf_set_opaque(conf, opaque)
        // librdkafka calls the log callback from its own threads too; ClientState's logger is Sendable.
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, line in
            guard let state = ClientState.from(rd_kafka_opaque(rk)) else { return }
            let text = line.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            state.logger.log(level: KafkaClient.logLevel(syslog: level), "\(text)", metadata: ["rdkafka.facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            ClientState.from(opaque)?.handleError(
                code: err, reason: reason.map { String(cString: $0) } ?? "", handle: rk)
        }
        rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
            if let json { ClientState.from(opaque)?.handleStatistics(UnsafeRawBufferPointer(start: json, count: length)) }
            return 0  // librdkafka frees the JSON
        }
        if type == RD_KAFKA_PRODUCER {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let state = ClientState.from(opaque) else { return }
                state.handleDelivery(message)
            }
        }
        var errorText = [CChar](repeating: 0, count: 512)
        let created = errorText.withUnsafeMutableBufferPointer { rd_kafka_new(type, conf, $0.baseAddress, $0.count) }
        guard let created else {
            rd_kafka_conf_destroy(conf)
            Unmanaged<ClientState>.fromOpaque(opaque).release()
            let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError.invalidConfiguration(
                key: KafkaClient.quotedKey(in: reason), "librdkafka rejected the configuration: \(reason)")
        }
        self.handle = RdKafkaHandle(pointer: created)
        self.state = state
        self.isConsumer = type == RD_KAFKA_CONSUMER
    }

    /// Starts a thread that serves rd_kafka_poll (delivery reports, statistics, errors).
    func startPolling(name: String) {
        let handle = handle
        let state = state
        let thread = PollThread(name: name) {
            rd_kafka_poll(handle.pointer, 50)
            state.dispatchPendingReports()
        }
        pollThread.withLock { $0 = thread }
    }

    /// Stops polling and destroys the handle. Idempotent; must not race with other calls on the client.
    func close(beforeDestroy: () -> Void = {}) {
        guard closedFlag.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        pollThread.withLock { $0 }?.stopAndJoin()
        beforeDestroy()
        rd_kafka_destroy(handle.pointer)
        state.dispatchPendingReports()
        Unmanaged.passUnretained(state).release()
    }

    deinit { close() }

    /// The first `key` quoted with backticks in a librdkafka message, which names the key at fault.
    static func quotedKey(in message: String) -> String? {
        let parts = message.split(separator: "`", omittingEmptySubsequences: false)
        return parts.count >= 3 ? String(parts[1]) : nil
    }

    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }

    /// Milliseconds for librdkafka from a Duration, clamped to Int32.
    static func milliseconds(_ duration: Duration) -> Int32 {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }
}

/// Runs a blocking call on a new dedicated, named thread and awaits it, so async callers never block the
/// cooperative pool with librdkafka's blocking calls. Owner: the awaiting caller; the thread ends when
/// `body` returns, which is when the await resumes, so none outlives its call.
func runBlocking<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}

/// The first offset written to each partition in the current transaction, from delivery reports.
/// Kept by topic handle and partition so that the per-record update is a short linear scan with no
/// String: a transaction touches few partitions. Names are resolved once per new partition. (librdkafka
/// keeps a topic's handle for the client's whole life, so one handle never stands for two topics.)
struct TransactionFirstOffsets: Sendable {
    private struct Entry: Sendable {
        let handle: UInt
        let partition: Int32
        let topic: String
        var offset: Int64
    }

    private var entries: [Entry] = []

    init() {}

    mutating func record(topic handle: OpaquePointer?, partition: Int32, offset: Int64) {
        let key = UInt(bitPattern: handle)
        for index in entries.indices where entries[index].handle == key && entries[index].partition == partition {
            if offset < entries[index].offset { entries[index].offset = offset }
            return
        }
        let name = handle.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        entries.append(Entry(handle: key, partition: partition, topic: name, offset: offset))
    }

    /// By topic and partition (a topic seen through two handles keeps its lowest offset).
    var byPartition: [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for entry in entries {
            let tp = TopicPartition(entry.topic, entry.partition)
            result[tp] = min(result[tp] ?? entry.offset, entry.offset)
        }
        return result
    }
}
