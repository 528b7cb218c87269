/// SluiceRuntime: the dataflow runtime of Sluice, in the spirit of Apache Flink's DataStream
/// runtime — a job API (`StreamExecutionEnvironment`, `DataStream`, `KeyedStream`,
/// `WindowedStream`), one dedicated thread per parallel subtask joined by bounded batch channels,
/// heap keyed and operator state, aligned-barrier checkpoints with a `CheckpointCoordinator` and a
/// swappable `CheckpointStorage`, event time with per-split watermarks, timers, windows
/// (tumbling, sliding, session, global; triggers, evictors, lateness) and side outputs,
/// two-phase-commit sinks, restarts and named crash points for exactly-once proofs.
/// It knows nothing about Kafka: connectors implement `Source`/`SourceReader` and
/// `TwoPhaseCommitSink`/`SinkWriter`. See README.md in this folder for the architecture.
public enum SluiceRuntime {
    /// Version of the checkpoint metadata format this build writes and reads.
    public static let checkpointFormatVersion = CheckpointMetadata.formatVersion
}
