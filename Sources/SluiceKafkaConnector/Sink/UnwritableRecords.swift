import Logging
import Metrics
import SluiceKafka

/// An output record the sink cannot write, with what is known of where it came from.
public struct UnwritableRecord: Sendable, CustomStringConvertible {
    /// Why it cannot be written.
    public enum Problem: Sendable {
        /// Its serialised size (key, value and headers) is above the producer's `message.max.bytes`.
        case tooLarge(bytes: Int, limit: Int)
        /// librdkafka refused it (`MSG_SIZE_TOO_LARGE`: with its framing it is above `message.max.bytes`).
        case refusedByProducer(KafkaError)
        /// The sink's serializer threw.
        case serializationFailed(String)
    }

    public let problem: Problem
    /// The input record it was made from: known when the sink is chained to the Kafka source (no
    /// keyed exchange in between); nil for output of a keyed exchange, a window or a timer, which
    /// has no single input record.
    public let input: KafkaRecordOrigin?
    /// The topic it was to be written to.
    public let outputTopic: String
    /// Its key, when it was serialised.
    public let key: [UInt8]?
    /// The checkpoint whose transaction it was written in (exactly-once only).
    public let checkpointId: Int64?

    /// "input record topic 'in', partition 0, offset 42" or, without one, what is known instead.
    public var origin: String {
        if let input { return "input record \(input)" }
        var known = ["no single input record (the output of a keyed exchange, a window or a timer)"]
        if let key { known.append("key \(Self.printable(key))") }
        if let checkpointId { known.append("written in the transaction of checkpoint \(checkpointId)") }
        return known.joined(separator: "; ")
    }

    /// One line for logs and dead-letter headers.
    public var reason: String {
        switch problem {
        case .tooLarge(let bytes, let limit):
            return "the serialised record is \(bytes) bytes, above the producer's message.max.bytes (\(limit))"
        case .refusedByProducer(let error):
            return "the producer refused it (\(error.codeName): \(error.message))"
        case .serializationFailed(let why):
            return "the sink's serializer failed: \(why)"
        }
    }

    public var description: String {
        let fix: String
        switch problem {
        case .tooLarge, .refusedByProducer:
            fix = "Make the job's output smaller, or raise the producer's message.max.bytes (-X message.max.bytes=N; "
                + "the broker's message.max.bytes and the topic's max.message.bytes must allow it too)"
        case .serializationFailed:
            fix = "Fix the serializer or the data it was given"
        }
        return "Cannot write an output record to topic '\(outputTopic)' (\(origin)): \(reason). \(fix); or set the sink's "
            + "unwritable-record policy to skip it or write it to a dead-letter topic. The job fails on this record "
            + "again after every restart until then."
    }

    static func printable(_ bytes: [UInt8]) -> String {
        let prefix = bytes.prefix(64)
        if let text = String(validating: prefix, as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
            return "'\(text)\(bytes.count > prefix.count ? "…" : "")'"
        }
        return "of \(bytes.count) bytes"
    }
}

/// Applies the sink's `unwritableRecords` policy (a `MalformedRecordPolicy`) to records the sink
/// cannot write: output its serializer rejects, and output above the producer's `message.max.bytes`
/// (checked before librdkafka sees it, and again when librdkafka refuses it with
/// `MSG_SIZE_TOO_LARGE`). Without it such a record fails the job on every restart.
///
/// Dead letters go through the sink's own producer: in the exactly-once sink into the open
/// transaction, so a dead letter is committed with its checkpoint, exactly once like the output
/// (unlike the source's dead letters, which are at least once). A dead letter carries no value (the
/// record was too large, or was never serialised) and the key when it fits; headers say where it
/// came from and why: `sluice.dlq.topic`, `sluice.dlq.partition`, `sluice.dlq.offset` (of the input
/// record, when known), `sluice.dlq.output.topic`, `sluice.dlq.checkpoint`, `sluice.dlq.size` and
/// `sluice.dlq.error`. Used on the sink subtask's thread only.
final class UnwritableRecordHandler {
    let policy: MalformedRecordPolicy
    let defaultTopic: String
    /// The producer's `message.max.bytes` as configured.
    let maxMessageBytes: Int
    let counter: Counter?
    let logger: Logger

    init(configuration: KafkaSinkConfiguration, counter: Counter?, logger: Logger) {
        policy = configuration.unwritableRecords
        defaultTopic = configuration.topic
        maxMessageBytes = configuration.maxMessageBytes
        self.counter = counter
        self.logger = logger
    }

    /// What to hand to the producer for `value`: its record, a dead letter instead, or nil (skipped).
    func prepare<Input: Sendable>(
        _ value: Input, timestamp: Int64?, checkpointId: Int64?, serializer: KafkaSink<Input>.Serializer
    ) throws(KafkaSinkError) -> ProducerRecord? {
        let serialised: KafkaSinkRecord
        do {
            serialised = try serializer(value)
        } catch {
            return try reject(UnwritableRecord(
                problem: .serializationFailed("\(error)"), input: CurrentInputRecord.origin, outputTopic: defaultTopic,
                key: nil, checkpointId: checkpointId))
        }
        let record = serialised.producerRecord(defaultTopic: defaultTopic, timestamp: timestamp)
        let size = record.framedSize
        if size > maxMessageBytes {
            return try reject(UnwritableRecord(
                problem: .tooLarge(bytes: size, limit: maxMessageBytes), input: CurrentInputRecord.origin,
                outputTopic: record.topic, key: record.key, checkpointId: checkpointId))
        }
        return record
    }

    /// After librdkafka refused `record` when it was produced: the dead letter to produce instead,
    /// or nil (skipped). Rethrows errors that are not about the record's size.
    func refused(_ record: ProducerRecord, _ error: KafkaError, checkpointId: Int64?, context: String) throws(KafkaSinkError) -> ProducerRecord? {
        guard error.codeName == "MSG_SIZE_TOO_LARGE" else { throw .kafka(error, context: context) }
        return try reject(UnwritableRecord(
            problem: .refusedByProducer(error), input: CurrentInputRecord.origin, outputTopic: record.topic,
            key: record.key, checkpointId: checkpointId))
    }

    /// Fails (`.fail`), or counts and logs the record and returns its dead letter (`.deadLetter`) or nil (`.skip`).
    func reject(_ unwritable: UnwritableRecord) throws(KafkaSinkError) -> ProducerRecord? {
        switch policy {
        case .fail:
            throw .unwritableRecord(unwritable)
        case .skip:
            counter?.increment()
            logger.warning("Skipping an output record to '\(unwritable.outputTopic)' (\(unwritable.origin)): \(unwritable.reason).")
            return nil
        case .deadLetter(let topic):
            counter?.increment()
            logger.warning(
                "An output record to '\(unwritable.outputTopic)' (\(unwritable.origin)) goes to dead-letter topic '\(topic)': \(unwritable.reason).")
            return deadLetter(unwritable, topic: topic)
        }
    }

    func deadLetter(_ unwritable: UnwritableRecord, topic: String) -> ProducerRecord {
        var headers: [KafkaHeader] = []
        func header(_ key: String, _ value: String) { headers.append(KafkaHeader(key: key, value: Array(value.utf8))) }
        if let input = unwritable.input {
            header("sluice.dlq.topic", input.topic)
            header("sluice.dlq.partition", String(input.partition))
            header("sluice.dlq.offset", String(input.offset))
        }
        header("sluice.dlq.output.topic", unwritable.outputTopic)
        if let checkpointId = unwritable.checkpointId { header("sluice.dlq.checkpoint", String(checkpointId)) }
        if case .tooLarge(let bytes, _) = unwritable.problem { header("sluice.dlq.size", String(bytes)) }
        header("sluice.dlq.error", unwritable.reason)
        // The key only when it leaves room for the headers and framing: the dead letter must fit.
        let key = unwritable.key.flatMap { $0.count <= maxMessageBytes / 2 ? $0 : nil }
        return ProducerRecord(topic: topic, key: key, value: nil, headers: headers)
    }
}

extension ProducerRecord {
    /// Key, value and headers in bytes.
    var payloadSize: Int {
        (key?.count ?? 0) + (value?.count ?? 0) + headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
    }

    /// The payload plus the most framing librdkafka adds before it compares a record with
    /// `message.max.bytes` (its per-record length fields, at most 36 bytes in the v2 format and 34
    /// in v1, and two length fields per header). Slightly above librdkafka's own figure, so what
    /// passes this check is never refused by librdkafka with `MSG_SIZE_TOO_LARGE` later (say, when
    /// held-back records are released, where the input record is no longer known).
    var framedSize: Int { payloadSize + 64 + 10 * headers.count }
}
