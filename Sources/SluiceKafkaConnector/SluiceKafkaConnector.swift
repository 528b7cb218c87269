/// SluiceKafkaConnector: the partition-aware Kafka source and the Kafka sink (none, at-least-once,
/// or exactly-once through two-phase commit) for the Sluice runtime.
///
/// - `KafkaSource`: splits are topic partitions, owned by subtasks deterministically
///   (`KafkaSplitOwnership`); the next offset of each split lives in the runtime's union operator
///   state and is restored from the checkpoint. Offsets go to the consumer group only when a
///   checkpoint completes, for monitoring; the source never reads them back.
/// - `KafkaSink`: one sink, its `DeliveryGuarantee` chosen in `KafkaSinkConfiguration`. Exactly-once
///   is Kafka transactions driven by the runtime's two-phase-commit protocol, in parts modelled on
///   Flink's Sink V2 (see `KafkaTwoPhaseCommitSink`): a writer, a committer, a fixed pool of
///   transactional ids per subtask, and an abort strategy for lingering transactions.
///
/// Owns: the Kafka connector's configuration, its state layout and its transactions. Depends on
/// the runtime's source and sink protocols and on the Kafka client (SluiceKafka) and wire
/// (SluiceKafkaWire) layers; must not depend on the test kit or on a particular broker product.
