/// SluiceKafkaWire: the few Kafka wire-protocol pieces librdkafka lacks.
///
/// - `TransactionResolver` commits or aborts a dangling transaction by (transactional id, producer id, epoch)
///   from a fresh connection (FindCoordinator + EndTxn), telling "already resolved" apart by reading the log.
/// - `TransactionAwareLogReader` reads partitions at READ_UNCOMMITTED, decodes record batches v2 itself
///   (CRC-32C, gzip/snappy/lz4/zstd) and applies read_committed per producer id from the control markers:
///   the oracle of exactly-once tests, independent of the broker's own filtering (wrong on some brokers).
/// - Below them: `KafkaWireClient` (metadata, coordinators, cached connections), `KafkaConnection`
///   (SwiftNIO, blocking and async), the protocol messages (`KafkaRequest`), `RecordBatch` and the
///   `WireWriter`/`WireReader` primitives. Every failure is a `KafkaWireError`.
///
/// Owns: protocol encoding and the requests librdkafka lacks. The shared Kafka values
/// (`TopicPartition`, `TransactionCommittable`, `ProducerIdAndEpoch`) live in SluiceKafkaCore, which
/// this module re-exports. Must not depend on librdkafka (SluiceKafka) or the runtime.
///
/// Its record types are the log as the wire carries it: `Record` (a decoded batch entry) and
/// `CommittedRecord` (one that a read_committed reader sees, with its producer); the client layer's
/// `KafkaRecord` is what librdkafka hands a consumer. They stay apart because each carries what its
/// layer knows (batch offsets and producer ids here, topic and timestamp type there).
@_exported import SluiceKafkaCore

public enum KafkaWire {
    /// The client id wire connections send unless told otherwise.
    public static let defaultClientId = "sluice-wire"
}
