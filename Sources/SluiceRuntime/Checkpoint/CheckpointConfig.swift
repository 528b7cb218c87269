import Foundation

/// What a checkpoint guarantees (Flink's CheckpointingMode).
public enum CheckpointingMode: Sendable, Equatable {
    /// Barriers are aligned: a task blocks each input channel that delivered barrier N until all
    /// did, so the snapshot holds exactly the records before the barrier.
    case exactlyOnce
    /// No alignment: channels are never blocked; a task snapshots when barrier N arrived on every
    /// input. Records that overtook the barrier are in the state and are replayed after a restore
    /// (duplicates in state and non-transactional output), in exchange for no alignment stalls.
    case atLeastOnce
}

/// Checkpoint settings of a job.
public struct CheckpointConfig: Sendable {
    /// Periodic checkpoints every `interval`; nil: only on demand and the final checkpoint.
    public var intervalMillis: Int64?
    /// A checkpoint not complete after this long is aborted.
    public var timeoutMillis: Int64
    /// Completed checkpoints kept; older ones are deleted after a newer one completes.
    public var retainedCheckpoints: Int
    /// Where checkpoints are stored; in memory when nil (they then survive only in-process restarts).
    public var directory: String?
    /// A periodic checkpoint starts at least this long after the previous one ended (completed or
    /// aborted). Requested checkpoints, savepoints and the final checkpoint do not wait for it.
    /// When > 0, at most one checkpoint is in flight whatever `maxConcurrentCheckpoints` says
    /// (as in Flink: a pause between checkpoints implies one at a time).
    public var minPauseBetweenCheckpointsMillis: Int64
    /// Periodic and requested checkpoints in flight at once (at least 1). With more than one, the
    /// next checkpoint is triggered at the interval even while earlier ones are pending; they
    /// complete in id order, and a completed checkpoint subsumes older pending ones. Savepoints
    /// and the final checkpoint wait until none is in flight.
    public var maxConcurrentCheckpoints: Int
    public var mode: CheckpointingMode

    public init(
        intervalMillis: Int64? = nil, timeoutMillis: Int64 = 600_000, retainedCheckpoints: Int = 3, directory: String? = nil,
        minPauseBetweenCheckpointsMillis: Int64 = 0, maxConcurrentCheckpoints: Int = 1, mode: CheckpointingMode = .exactlyOnce
    ) {
        self.intervalMillis = intervalMillis
        self.timeoutMillis = timeoutMillis
        self.retainedCheckpoints = retainedCheckpoints
        self.directory = directory
        self.minPauseBetweenCheckpointsMillis = minPauseBetweenCheckpointsMillis
        self.maxConcurrentCheckpoints = maxConcurrentCheckpoints
        self.mode = mode
    }

    /// Refuses settings that cannot work, saying what to change.
    func validate() throws {
        guard maxConcurrentCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "maxConcurrentCheckpoints is \(maxConcurrentCheckpoints), but at least one checkpoint must be allowed in flight: "
                    + "set it to 1 (one at a time) or more; to turn periodic checkpoints off, set intervalMillis to nil.")
        }
        if let interval = intervalMillis, interval <= 0 {
            throw RuntimeConfigurationError.invalid("The checkpoint interval must be positive (got \(interval) ms); use nil to disable periodic checkpoints.")
        }
        guard timeoutMillis > 0, minPauseBetweenCheckpointsMillis >= 0, retainedCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "Checkpointing needs timeoutMillis > 0, minPauseBetweenCheckpointsMillis >= 0 and retainedCheckpoints >= 1 "
                    + "(got \(timeoutMillis), \(minPauseBetweenCheckpointsMillis), \(retainedCheckpoints)).")
        }
    }

    /// Checkpoints (not savepoints) allowed in flight: a minimum pause forces one at a time.
    var effectiveMaxConcurrentCheckpoints: Int {
        minPauseBetweenCheckpointsMillis > 0 ? 1 : max(1, maxConcurrentCheckpoints)
    }

    /// When the next periodic checkpoint may start: one interval after the last trigger and the
    /// minimum pause after the last checkpoint ended (nil: periodic checkpoints are off).
    func nextPeriodicTrigger(lastTriggerAt: Int64, lastEndedAt: Int64?) -> Int64? {
        guard let interval = intervalMillis else { return nil }
        let byInterval = lastTriggerAt + interval
        guard let lastEndedAt else { return byInterval }
        return max(byInterval, lastEndedAt + minPauseBetweenCheckpointsMillis)
    }
}
