/// SluiceKafkaConnector: the partition-aware Kafka source and the Kafka sink (none, at-least-once,
/// or exactly-once through two-phase commit) for the Sluice runtime.
///
/// - `KafkaSource`: splits are topic partitions, owned by subtasks deterministically
///   (`KafkaSplitOwnership`); the next offset of each split lives in the runtime's union operator
///   state and is restored from the checkpoint. Offsets go to the consumer group only when a
///   checkpoint completes, for monitoring; the source never reads them back.
/// - `KafkaExactlyOnceSink`: Kafka transactions driven by the runtime's two-phase-commit protocol,
///   with a fixed pool of transactional ids per subtask (see `KafkaTransactionalIdPool`), recovery
///   through the wire-level EndTxn (`SluiceKafkaWire.TransactionResolver`) and leftover aborts by
///   initialising every id the job may have used.
/// - `KafkaAtLeastOnceSink`: an idempotent producer flushed at every barrier (or never, for `.none`).
import SluiceKafka
import SluiceRuntime

/// The Kafka connector's delivery guarantees, as in Flink's KafkaSink.
public enum DeliveryGuarantee: String, Sendable, CaseIterable {
    /// Records are sent; nothing waits for them (losses and duplicates possible after a failure).
    case none
    /// Every checkpoint waits until all records are acknowledged: nothing lost, duplicates possible.
    case atLeastOnce
    /// Records are committed in Kafka transactions when the checkpoint completes: exactly once for
    /// read_committed readers.
    case exactlyOnce
}
