/// SluiceRuntime: the dataflow runtime of Sluice, in the spirit of Apache Flink's DataStream
/// runtime.
///
/// It owns: the job API (`StreamExecutionEnvironment`, `DataStream`, `KeyedStream`,
/// `WindowedStream`, connected and broadcast streams), operators, keyed and operator state (heap and
/// on-disk backends, TTL), event time (watermarks, timers), windows, side outputs, the execution of a
/// job (one dedicated thread per parallel subtask joined by bounded batch channels, restarts), the
/// checkpoint protocol (`CheckpointCoordinator`, a pure state machine, run by
/// `CheckpointCoordinatorDriver`), checkpoint and savepoint storage, and the named crash points of
/// the `FaultInjector` used by the exactly-once proofs.
///
/// It must not depend on Kafka or any other connector, broker or wire protocol (no `SluiceKafka*`
/// import), nor on the operations layer (`SluiceOps`) or the test kit: connectors plug in through
/// `Source`/`SourceReader` and `TwoPhaseCommitSink`/`SinkWriter`, and depend on it, never the other
/// way round. It depends only on the standard library, Foundation, swift-log, swift-metrics,
/// swift-collections and SQLite. See README.md in this folder for the architecture.
public enum SluiceRuntime {
    /// Version of the checkpoint metadata format this build writes and reads.
    public static let checkpointFormatVersion = CheckpointMetadata.formatVersion
}
