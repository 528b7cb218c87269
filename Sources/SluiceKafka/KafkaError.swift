import CRdKafka

/// The one error type of SluiceKafka: librdkafka's error code and message, how the error behaves
/// (fatal, retriable, transaction must be aborted), a `kind` to switch on, and a hint of what to do.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The cases callers typically need to tell apart.
    public enum Kind: Sendable, Hashable {
        /// No broker could be reached (`_ALL_BROKERS_DOWN`, `_TRANSPORT`, `_RESOLVE`), or an operation
        /// timed out while the client had no broker connection.
        case brokerUnreachable
        /// A blocking call ran out of time (`_TIMED_OUT`, `REQUEST_TIMED_OUT`).
        case timedOut
        /// `_UNKNOWN_TOPIC`, `_UNKNOWN_PARTITION`, `UNKNOWN_TOPIC_OR_PART`.
        case unknownTopicOrPartition
        /// A configuration was rejected before connecting (see `configurationKey`).
        case invalidConfiguration
        /// Another producer with the same transactional.id took over (`_FENCED`, `PRODUCER_FENCED`,
        /// `INVALID_PRODUCER_EPOCH`). The producer is unusable: create a new one.
        case fenced
        /// The broker refused `transaction.timeout.ms` (`INVALID_TRANSACTION_TIMEOUT`).
        case invalidTransactionTimeout
        /// A record was not delivered within `message.timeout.ms` (`_MSG_TIMED_OUT`).
        case messageTimedOut
        /// `TOPIC_ALREADY_EXISTS`.
        case topicAlreadyExists
        /// The local producer queue stayed full until the call's timeout (`_QUEUE_FULL`).
        case queueFull
        /// A transactional call in the wrong state (`_STATE`, `INVALID_TXN_STATE`, `_PREV_IN_PROGRESS`).
        case invalidState
        /// The client was closed before or during the call (records still queued at close are
        /// purged: `_PURGE_QUEUE`, `_PURGE_INFLIGHT`).
        case closed
        /// Anything else: see `code` and `codeName`.
        case other
    }

    /// How a transactional producer should react.
    public enum TransactionClass: Sendable, Hashable {
        /// The producer is unusable: close it and create a new one.
        case fatal
        /// Abort the current transaction (`abortTransaction`), then continue with a new one.
        case abortable
        /// The call may be retried as is.
        case retriable
        /// Not a transaction error (configuration, closed client, ...).
        case other
    }

    public var kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t` value (negative codes are client-side), or nil when the
    /// error did not come from librdkafka.
    public var code: Int32?
    /// librdkafka's code name, e.g. "_FENCED" or "UNKNOWN_TOPIC_OR_PART".
    public var codeName: String
    /// The detailed message (librdkafka's error string or reason).
    public var message: String
    public var isFatal: Bool
    public var isRetriable: Bool
    /// For transactional producers: the current transaction must be aborted.
    public var transactionRequiresAbort: Bool
    /// The configuration key at fault, for `.invalidConfiguration`.
    public var configurationKey: String?
    /// What the caller can do about it.
    public var hint: String

    public var transactionClass: TransactionClass {
        if isFatal { return .fatal }
        if transactionRequiresAbort { return .abortable }
        if isRetriable { return .retriable }
        return .other
    }

    public var description: String {
        var text = "KafkaError.\(kind) [\(codeName)]: \(message)"
        if isFatal { text += " (fatal)" } else if transactionRequiresAbort { text += " (abort the transaction)" } else if isRetriable { text += " (retriable)" }
        if !hint.isEmpty { text += " — \(hint)" }
        return text
    }

    public init(
        kind: Kind, code: Int32? = nil, codeName: String, message: String, isFatal: Bool = false,
        isRetriable: Bool = false, transactionRequiresAbort: Bool = false, configurationKey: String? = nil,
        hint: String? = nil
    ) {
        self.kind = kind
        self.code = code
        self.codeName = codeName
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.transactionRequiresAbort = transactionRequiresAbort
        self.configurationKey = configurationKey
        self.hint = hint ?? KafkaError.defaultHint(for: kind)
    }

    /// An error from a librdkafka response code; `context` says what was being done.
    init(code: rd_kafka_resp_err_t, context: String, detail: String? = nil, isFatal: Bool = false) {
        let raw = code.rawValue
        let kind = KafkaError.kind(of: raw)
        let text = detail.flatMap { $0.isEmpty ? nil : $0 } ?? String(cString: rd_kafka_err2str(code))
        self.init(
            kind: kind, code: raw, codeName: String(cString: rd_kafka_err2name(code)),
            message: "\(context): \(text)", isFatal: isFatal || kind == .fenced,
            isRetriable: KafkaError.isRetriableCode(raw))
    }

    /// An error from an `rd_kafka_error_t`, which this initialiser destroys.
    init(consuming error: OpaquePointer, context: String) {
        let code = rd_kafka_error_code(error)
        let detail = rd_kafka_error_string(error).map { String(cString: $0) } ?? ""
        let fatal = rd_kafka_error_is_fatal(error) != 0
        let retriable = rd_kafka_error_is_retriable(error) != 0
        let abortable = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
        self.init(code: code, context: context, detail: detail, isFatal: fatal)
        self.isRetriable = retriable
        self.transactionRequiresAbort = abortable
    }

    static func invalidConfiguration(key: String?, _ message: String, hint: String? = nil) -> KafkaError {
        KafkaError(
            kind: .invalidConfiguration, code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, codeName: "_INVALID_ARG",
            message: message, configurationKey: key,
            hint: hint ?? key.map { "correct or remove the configuration key '\($0)'" })
    }

    static func closed(_ what: String) -> KafkaError {
        KafkaError(kind: .closed, codeName: "_DESTROY", message: "\(what): the client is closed")
    }

    static func kind(of code: Int32) -> Kind {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__RESOLVE:
            return .brokerUnreachable
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            return .timedOut
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID:
            return .unknownTopicOrPartition
        case RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL:
            return .invalidConfiguration
        case RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
            return .fenced
        case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
            return .invalidTransactionTimeout
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
            return .messageTimedOut
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
            return .topicAlreadyExists
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            return .queueFull
        case RD_KAFKA_RESP_ERR__STATE, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS,
            RD_KAFKA_RESP_ERR__CONFLICT:
            return .invalidState
        case RD_KAFKA_RESP_ERR__DESTROY, RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            return .closed
        default:
            return .other
        }
    }

    static func isRetriableCode(_ code: Int32) -> Bool {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            return true
        default:
            return false
        }
    }

    static func defaultHint(for kind: Kind) -> String {
        switch kind {
        case .brokerUnreachable:
            return "check bootstrap.servers and that the broker is running and reachable"
        case .timedOut:
            return "the broker did not answer in time: check it is running, or raise the timeout"
        case .unknownTopicOrPartition:
            return "create the topic first (KafkaAdmin.createTopics) or check the topic name and partition"
        case .invalidConfiguration:
            return "fix the named configuration key"
        case .fenced:
            return "another producer with the same transactional.id took over: close this one and create a new one"
        case .invalidTransactionTimeout:
            return "lower transaction.timeout.ms to at most the broker's transaction.max.timeout.ms"
        case .messageTimedOut:
            return "the record was not acknowledged within message.timeout.ms: check the broker, or raise it"
        case .topicAlreadyExists:
            return "the topic exists already: use it, or delete it first"
        case .queueFull:
            return "the local queue stayed full: poll/flush more often, or raise queue.buffering.max.messages"
        case .invalidState:
            return "the call does not fit the producer's transaction state (init, begin, produce, commit/abort)"
        case .closed:
            return "create a new client"
        case .other:
            return ""
        }
    }
}
