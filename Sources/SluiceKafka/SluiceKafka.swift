/// SluiceKafka: Sluice's Kafka client layer over librdkafka.
///
/// The primary API is synchronous and thread-safe: Sluice runs each parallel subtask on its own
/// dedicated OS thread, and those threads call librdkafka directly. Async conveniences (for example
/// `KafkaProducer.send`) never block Swift's cooperative thread pool.
///
/// Entry points:
/// - `KafkaConfiguration`: typed settings plus raw librdkafka keys, checked by `validate(for:)`.
/// - `KafkaProducer`: per-record awaitable delivery reports and a batched high-throughput path.
/// - `KafkaTransactionalProducer`: transactions, producer id and epoch, first offsets per transaction.
/// - `KafkaConsumer`: manual assignment, seek, pause/resume, end-of-partition events, watermarks.
/// - `KafkaAdmin`: create, delete, list and describe topics.
/// - `KafkaError`: the one error family, with code name, message, fatal/retriable flags and a hint.
/// - `KafkaStatistics`: librdkafka's statistics JSON, decoded.
///
/// Owns: librdkafka's handles, threads and settings. The shared Kafka values (`TopicPartition`,
/// `KafkaOffset`, `ProducerIdAndEpoch`) live in SluiceKafkaCore, which this module re-exports. Must
/// not depend on the wire layer (SluiceKafkaWire) or the runtime.
@_exported import SluiceKafkaCore
import CRdKafka

/// The version of the librdkafka this module is linked against, e.g. "2.8.0".
public let librdkafkaVersion: String = String(cString: rd_kafka_version_str())
