/// SluiceKafkaWire: the few Kafka wire-protocol pieces librdkafka lacks.
///
/// - `TransactionResolver` commits or aborts a dangling transaction by (transactional id, producer id, epoch)
///   from a fresh connection (FindCoordinator + EndTxn), telling "already resolved" apart by reading the log.
/// - `TransactionAwareLogReader` reads partitions at READ_UNCOMMITTED, decodes record batches v2 itself
///   (CRC-32C, gzip/snappy/lz4/zstd) and applies read_committed per producer id from the control markers:
///   the oracle of exactly-once tests, independent of the broker's own (Tansu: wrong) filtering.
/// - Below them: `KafkaWireClient` (metadata, coordinators, cached connections), `KafkaConnection`
///   (SwiftNIO, blocking and async), the protocol messages (`KafkaRequest`), `RecordBatch` and the
///   `WireWriter`/`WireReader` primitives. Every failure is a `KafkaWireError`.
///
/// Its `TopicPartition` shares its name with SluiceKafka's: where both modules are imported, qualify it as
/// `SluiceKafkaWire.TopicPartition`.
public enum KafkaWire {
    /// The client id wire connections send unless told otherwise.
    public static let defaultClientId = "sluice-wire"
}
