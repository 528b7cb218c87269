import Foundation
import SluiceKafka

/// Writes the records a Kafka source could not read to a dead-letter topic, unchanged (key, value,
/// headers), with headers naming where each came from and why it was rejected:
/// `sluice.dlq.topic`, `sluice.dlq.partition`, `sluice.dlq.offset`, `sluice.dlq.error`.
///
/// At least once: the source flushes it before each checkpoint snapshot, so every dead letter
/// below a checkpoint's offsets is in the topic; a restart re-reads the records after the
/// checkpoint and may write their dead letters again. A dead letter that cannot be delivered
/// fails the job (nothing is dropped silently).
final class KafkaDeadLetterWriter {
    let topic: String
    private let producer: KafkaProducer

    init(bootstrapServers: String, topic: String, settings: [String: String]) throws {
        var configuration = KafkaConfiguration(bootstrapServers: bootstrapServers, settings)
        configuration.enableIdempotence = true
        do {
            producer = try KafkaProducer(configuration: configuration, deliveryReports: .collectFailures)
        } catch {
            throw KafkaSourceError.kafka(error, context: "opening the dead-letter producer for '\(topic)'")
        }
        self.topic = topic
    }

    func send(_ record: KafkaRecord, reason: String) throws {
        let headers = record.headers + [
            KafkaHeader(key: "sluice.dlq.topic", value: Array(record.topic.utf8)),
            KafkaHeader(key: "sluice.dlq.partition", value: Array(String(record.partition).utf8)),
            KafkaHeader(key: "sluice.dlq.offset", value: Array(String(record.offset).utf8)),
            KafkaHeader(key: "sluice.dlq.error", value: Array(reason.utf8)),
        ]
        do {
            try producer.produce(ProducerRecord(topic: topic, key: record.key, value: record.value, headers: headers, timestamp: record.timestamp))
        } catch {
            throw KafkaSourceError.kafka(error, context: "writing a dead letter for \(record.topicPartition)@\(record.offset) to '\(topic)'")
        }
    }

    /// Waits until every dead letter is written; throws if one could not be.
    func flush() throws {
        do {
            try producer.flush(timeout: .seconds(30))
        } catch {
            throw KafkaSourceError.kafka(error, context: "flushing dead letters to '\(topic)'")
        }
        if let failed = producer.drainDeliveryReports().first(where: { $0.error != nil }), let error = failed.error {
            throw KafkaSourceError.kafka(error, context: "delivering a dead letter to '\(topic)'")
        }
    }

    func close() {
        producer.close(flushTimeout: .seconds(5))
    }
}
