import Logging
import Metrics
import SluiceKafka

/// What the source does with a record its deserializer rejects (`KafkaSourceConfiguration.malformedRecords`),
/// and what the sink does with an output record it cannot write: rejected by its serializer, or above
/// the producer's `message.max.bytes` (`KafkaSinkConfiguration.unwritableRecords`; see
/// `UnwritableRecordHandler` for its error, and for its dead letters, which are exactly once).
public enum MalformedRecordPolicy: Sendable, Hashable {
    /// Fail the job (it restarts from the last checkpoint under its restart strategy, and fails
    /// again on the same record: nothing is lost, and the error names topic, partition and offset).
    case fail
    /// Skip the record and count it in `sluice_source_malformed_records`; its offset still advances.
    case skip
    /// Skip and count it as `skip` does, and write it unchanged to this dead-letter topic, with
    /// headers naming its topic, partition, offset and the error (at least once: see `KafkaDeadLetterWriter`).
    case deadLetter(topic: String)
}

/// Applies the `MalformedRecordPolicy` to a record the deserializer rejected. Used on the reader's
/// thread only.
final class MalformedRecordHandler {
    let policy: MalformedRecordPolicy
    private let counter: Counter
    private let logger: Logger
    private var deadLetters: KafkaDeadLetterWriter?

    init(policy: MalformedRecordPolicy, bootstrapServers: String, consumerSettings: [String: String],
         counter: Counter, logger: Logger) throws {
        self.policy = policy
        self.counter = counter
        self.logger = logger
        if case .deadLetter(let topic) = policy {
            // The consumer's connection settings (security, SASL, SSL) apply to the dead-letter producer too.
            let connection = consumerSettings.filter { ["security.", "sasl.", "ssl."].contains(where: $0.key.hasPrefix) }
            deadLetters = try KafkaDeadLetterWriter(bootstrapServers: bootstrapServers, topic: topic, settings: connection)
        }
    }

    /// Fails with a typed error (`.fail`), or counts, logs and skips the record (after writing it to
    /// the dead-letter topic for `.deadLetter`).
    func reject(_ record: KafkaRecord, because error: any Error) throws {
        switch policy {
        case .fail:
            throw KafkaSourceError.malformedRecord(
                topic: record.topic, partition: record.partition, offset: record.offset, reason: "\(error)")
        case .skip:
            counter.increment()
            logger.warning("Skipping malformed record \(record.topicPartition)@\(record.offset): \(error)")
        case .deadLetter(let topic):
            counter.increment()
            logger.warning("Malformed record \(record.topicPartition)@\(record.offset) goes to dead-letter topic '\(topic)': \(error)")
            try deadLetters?.send(record, reason: "\(error)")
        }
    }

    /// Before a checkpoint snapshot: every dead letter below its offsets must be in its topic.
    func flush() throws { try deadLetters?.flush() }

    func close() {
        deadLetters?.close()
        deadLetters = nil
    }
}
