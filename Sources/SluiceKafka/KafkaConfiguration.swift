import CRdKafka
import Foundation

/// Settings for a Kafka client: typed accessors for the common settings, and raw librdkafka keys via
/// the subscript (`configuration["socket.timeout.ms"] = "5000"`). Typed accessors and raw keys share
/// one store, so `configuration.linger = .milliseconds(5)` and `configuration["linger.ms"] = "5"` are the same.
/// Typed settings of times are `Duration`s; the raw keys keep librdkafka's `*.ms` names and strings.
///
/// `validate(for:)` checks the settings before any connection: known conflicts, numeric values, and
/// every key against librdkafka's own `rd_kafka_conf_set`.
public struct KafkaConfiguration: Sendable, Hashable {
    /// Which kind of client a configuration is for; it decides defaults and which conflicts apply.
    public enum Role: Sendable, Hashable {
        case producer
        case transactionalProducer
        case consumer
        case admin
    }

    public enum IsolationLevel: String, Sendable, Hashable {
        case readCommitted = "read_committed"
        case readUncommitted = "read_uncommitted"
    }

    public enum Acks: String, Sendable, Hashable {
        /// Wait for all in-sync replicas (required for idempotence and transactions).
        case all = "all"
        case leader = "1"
        /// No acknowledgement (offsets in delivery reports are then unknown).
        case fireAndForget = "0"
    }

    public enum AutoOffsetReset: String, Sendable, Hashable {
        case earliest, latest, error
    }

    /// Every key set, typed or raw, as librdkafka spells it.
    public private(set) var values: [String: String]

    public init(bootstrapServers: String? = nil, _ values: [String: String] = [:]) {
        self.values = values
        if let bootstrapServers { self.bootstrapServers = bootstrapServers }
    }

    /// Any librdkafka key (see librdkafka's CONFIGURATION.md); nil removes it.
    public subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    // MARK: Typed settings

    public var bootstrapServers: String? {
        get { values["bootstrap.servers"] }
        set { values["bootstrap.servers"] = newValue }
    }
    public var clientId: String? {
        get { values["client.id"] }
        set { values["client.id"] = newValue }
    }
    public var groupId: String? {
        get { values["group.id"] }
        set { values["group.id"] = newValue }
    }
    public var isolationLevel: IsolationLevel? {
        get { values["isolation.level"].flatMap(IsolationLevel.init(rawValue:)) }
        set { values["isolation.level"] = newValue?.rawValue }
    }
    public var acks: Acks? {
        get {
            switch values["acks"] ?? values["request.required.acks"] {
            case "all", "-1": return .all
            case "1": return .leader
            case "0": return .fireAndForget
            default: return nil
            }
        }
        set { values["acks"] = newValue?.rawValue }
    }
    public var enableIdempotence: Bool? {
        get { values["enable.idempotence"].flatMap(Self.parseBool) }
        set { values["enable.idempotence"] = newValue.map { $0 ? "true" : "false" } }
    }
    public var linger: Duration? {
        get { self[milliseconds: "linger.ms"] ?? self[milliseconds: "queue.buffering.max.ms"] }
        set { self[milliseconds: "linger.ms"] = newValue }
    }
    /// Largest record batch in bytes (`batch.size`).
    public var batchSize: Int? {
        get { int("batch.size") }
        set { values["batch.size"] = newValue.map(String.init) }
    }
    /// Most records in one batch (`batch.num.messages`).
    public var batchNumMessages: Int? {
        get { int("batch.num.messages") }
        set { values["batch.num.messages"] = newValue.map(String.init) }
    }
    /// Most records held in the local producer queue (`queue.buffering.max.messages`).
    public var queueBufferingMaxMessages: Int? {
        get { int("queue.buffering.max.messages") }
        set { values["queue.buffering.max.messages"] = newValue.map(String.init) }
    }
    public var messageTimeout: Duration? {
        get { self[milliseconds: "message.timeout.ms"] ?? self[milliseconds: "delivery.timeout.ms"] }
        set { self[milliseconds: "message.timeout.ms"] = newValue }
    }
    public var transactionalId: String? {
        get { values["transactional.id"] }
        set { values["transactional.id"] = newValue }
    }
    public var transactionTimeout: Duration? {
        get { self[milliseconds: "transaction.timeout.ms"] }
        set { self[milliseconds: "transaction.timeout.ms"] = newValue }
    }
    /// How often librdkafka emits statistics; 0 turns them off.
    public var statisticsInterval: Duration? {
        get { self[milliseconds: "statistics.interval.ms"] }
        set { self[milliseconds: "statistics.interval.ms"] = newValue }
    }
    /// How long the consumer pauses fetching when its local queue is full (librdkafka's default, 1000,
    /// stalls throughput; KafkaConsumer uses 10 unless set).
    public var fetchQueueBackoff: Duration? {
        get { self[milliseconds: "fetch.queue.backoff.ms"] }
        set { self[milliseconds: "fetch.queue.backoff.ms"] = newValue }
    }
    public var autoOffsetReset: AutoOffsetReset? {
        get { values["auto.offset.reset"].flatMap(AutoOffsetReset.init(rawValue:)) }
        set { values["auto.offset.reset"] = newValue?.rawValue }
    }
    public var enablePartitionEOF: Bool? {
        get { values["enable.partition.eof"].flatMap(Self.parseBool) }
        set { values["enable.partition.eof"] = newValue.map { $0 ? "true" : "false" } }
    }
    public var socketTimeout: Duration? {
        get { self[milliseconds: "socket.timeout.ms"] }
        set { self[milliseconds: "socket.timeout.ms"] = newValue }
    }

    // MARK: Validation

    /// Keys whose value must be a non-negative integer.
    static let nonNegativeIntegerKeys: Set<String> = [
        "linger.ms", "queue.buffering.max.ms", "batch.size", "batch.num.messages", "queue.buffering.max.messages",
        "queue.buffering.max.kbytes", "message.timeout.ms", "delivery.timeout.ms", "transaction.timeout.ms",
        "statistics.interval.ms", "fetch.queue.backoff.ms", "socket.timeout.ms", "retries", "message.send.max.retries",
        "retry.backoff.ms", "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes", "queued.min.messages",
        "queued.max.messages.kbytes", "session.timeout.ms", "max.poll.interval.ms", "request.timeout.ms",
        "message.max.bytes", "topic.metadata.refresh.interval.ms", "reconnect.backoff.ms", "reconnect.backoff.max.ms",
        "max.in.flight.requests.per.connection", "max.in.flight", "auto.commit.interval.ms",
    ]

    /// The settings librdkafka will get for `role`: these values plus the role's defaults.
    public func effectiveValues(for role: Role) -> [String: String] {
        var result = values
        switch role {
        case .consumer:
            if result["group.id"] == nil { result["group.id"] = "sluice-unused-group" }
            if result["fetch.queue.backoff.ms"] == nil { result["fetch.queue.backoff.ms"] = "10" }
            if result["enable.partition.eof"] == nil { result["enable.partition.eof"] = "true" }
            // The broker holds an empty fetch this long: 500 ms (the default) delays reaching the end
            // of a partition and every record arriving at an idle one.
            if result["fetch.wait.max.ms"] == nil { result["fetch.wait.max.ms"] = "100" }
            if result["enable.auto.commit"] == nil { result["enable.auto.commit"] = "false" }
            if result["enable.auto.offset.store"] == nil { result["enable.auto.offset.store"] = "false" }
        case .transactionalProducer:
            // The producer id and epoch are read from statistics, so they must be on.
            if (Int(result["statistics.interval.ms"] ?? "0") ?? 0) == 0 { result["statistics.interval.ms"] = "200" }
            if result["enable.idempotence"] == nil { result["enable.idempotence"] = "true" }
        case .producer, .admin:
            break
        }
        return result
    }

    /// Checks the settings for `role` without connecting; throws `KafkaError` with kind
    /// `.invalidConfiguration` naming the offending key.
    public func validate(for role: Role) throws(KafkaError) {
        let conf = try makeNativeConfiguration(for: role)
        rd_kafka_conf_destroy(conf)
    }

    /// Checks conflicts and values, then builds an `rd_kafka_conf_t` the caller owns.
    func makeNativeConfiguration(for role: Role) throws(KafkaError) -> OpaquePointer {
        let effective = effectiveValues(for: role)
        try Self.checkValues(effective)
        try Self.checkConflicts(effective, role: role)
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidConfiguration(key: nil, "rd_kafka_conf_new failed (out of memory?)")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in effective.sorted(by: { $0.key < $1.key }) {
            let result = errorText.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_conf_set(conf, key, value, buffer.baseAddress, buffer.count)
            }
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let what = result == RD_KAFKA_CONF_UNKNOWN ? "unknown configuration key" : "invalid value"
                throw KafkaError.invalidConfiguration(
                    key: key, "\(what) '\(key)'='\(value)': \(reason)",
                    hint: result == RD_KAFKA_CONF_UNKNOWN
                        ? "remove or correct the key '\(key)' (see librdkafka's CONFIGURATION.md)"
                        : "correct the value of '\(key)'")
            }
        }
        return conf
    }

    static func checkValues(_ values: [String: String]) throws(KafkaError) {
        for key in values.keys.sorted() where nonNegativeIntegerKeys.contains(key) {
            let value = values[key] ?? ""
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)) else {
                throw KafkaError.invalidConfiguration(key: key, "'\(key)' must be an integer, got '\(value)'")
            }
            if number < 0 {
                throw KafkaError.invalidConfiguration(key: key, "'\(key)' must not be negative, got \(number)")
            }
        }
        if values["bootstrap.servers"].map({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) ?? false {
            throw KafkaError.invalidConfiguration(key: "bootstrap.servers", "'bootstrap.servers' is empty")
        }
    }

    static func checkConflicts(_ values: [String: String], role: Role) throws(KafkaError) {
        let transactionalId = values["transactional.id"]
        if role == .transactionalProducer && (transactionalId ?? "").isEmpty {
            throw KafkaError.invalidConfiguration(
                key: "transactional.id", "a transactional producer needs a non-empty 'transactional.id'")
        }
        if role == .consumer || role == .admin, transactionalId != nil {
            throw KafkaError.invalidConfiguration(
                key: "transactional.id", "'transactional.id' only applies to a transactional producer")
        }
        if role == .producer, transactionalId != nil {
            throw KafkaError.invalidConfiguration(
                key: "transactional.id", "'transactional.id' is set: use KafkaTransactionalProducer")
        }
        let idempotence = values["enable.idempotence"].flatMap(parseBool)
        let acks = values["acks"] ?? values["request.required.acks"]
        let idempotent = idempotence == true || transactionalId != nil
        if transactionalId != nil && idempotence == false {
            throw KafkaError.invalidConfiguration(
                key: "enable.idempotence", "'transactional.id' requires 'enable.idempotence'=true")
        }
        if idempotent, let acks, acks != "all", acks != "-1" {
            throw KafkaError.invalidConfiguration(
                key: "acks", "idempotence and transactions require 'acks'=all, got '\(acks)'")
        }
        if transactionalId != nil {
            // librdkafka's defaults: transaction.timeout.ms 60000; message.timeout.ms then follows it.
            let transactionTimeout = values["transaction.timeout.ms"].flatMap { Int($0) } ?? 60_000
            // librdkafka checks socket.timeout.ms <= transaction.timeout.ms + 100 in 32-bit arithmetic.
            if transactionTimeout > Int(Int32.max) - 100 {
                throw KafkaError.invalidConfiguration(
                    key: "transaction.timeout.ms",
                    "'transaction.timeout.ms' (\(transactionTimeout)) is too large: librdkafka accepts at most \(Int(Int32.max) - 100)",
                    hint: "use at most the broker's transaction.max.timeout.ms (Kafka's default: 900000)")
            }
            let socketTimeout = values["socket.timeout.ms"].flatMap { Int($0) } ?? 60_000
            if socketTimeout > transactionTimeout + 100 {
                throw KafkaError.invalidConfiguration(
                    key: "socket.timeout.ms",
                    "'socket.timeout.ms' (\(socketTimeout)) must be at most 'transaction.timeout.ms' + 100 (\(transactionTimeout + 100))")
            }
            let messageTimeout = (values["message.timeout.ms"] ?? values["delivery.timeout.ms"]).flatMap { Int($0) }
            if let messageTimeout, messageTimeout >= transactionTimeout {
                throw KafkaError.invalidConfiguration(
                    key: "message.timeout.ms",
                    "'message.timeout.ms' (\(messageTimeout)) must be less than 'transaction.timeout.ms' (\(transactionTimeout))",
                    hint: "lower message.timeout.ms or raise transaction.timeout.ms")
            }
        }
    }

    private func int(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
    /// A librdkafka `*.ms` setting as a Duration; set as librdkafka's whole milliseconds (rounded),
    /// nil removes it.
    private subscript(milliseconds key: String) -> Duration? {
        get { int(key).map { .milliseconds($0) } }
        set { values[key] = newValue.map { String(Int64(($0 / .milliseconds(1)).rounded())) } }
    }

    static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }
}
