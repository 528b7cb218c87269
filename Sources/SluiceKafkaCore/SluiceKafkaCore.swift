/// SluiceKafkaCore: the Kafka vocabulary every Kafka module of Sluice shares, as plain values:
/// `TopicPartition`, the special `KafkaOffset`s, a producer's identity (`ProducerIdAndEpoch`) and a
/// transaction's `TransactionCommittable`.
///
/// Owns: these value types and their encodings (Codable), nothing else. Must not depend on
/// librdkafka, SwiftNIO, the runtime or any other Sluice module: both the client layer
/// (SluiceKafka) and the wire layer (SluiceKafkaWire) build on it, and re-export it, so a file that
/// imports either sees one `TopicPartition`.
public enum SluiceKafkaCore {}
