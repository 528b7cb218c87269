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
    public var interval: Duration?
    /// A checkpoint not complete after this long is aborted.
    public var timeout: Duration
    /// Completed checkpoints kept; older ones are deleted after a newer one completes.
    public var retainedCheckpoints: Int
    /// Where checkpoints are stored; in memory when nil (they then survive only in-process restarts).
    public var directory: String?
    /// A periodic checkpoint starts at least this long after the previous one ended (completed or
    /// aborted). Requested checkpoints, savepoints and the final checkpoint do not wait for it.
    /// When above zero, at most one checkpoint is in flight whatever `maxConcurrentCheckpoints` says
    /// (as in Flink: a pause between checkpoints implies one at a time).
    public var minPauseBetweenCheckpoints: Duration
    /// Periodic and requested checkpoints in flight at once (at least 1). With more than one, the
    /// next checkpoint is triggered at the interval even while earlier ones are pending; they
    /// complete in id order, and a completed checkpoint subsumes older pending ones. Savepoints
    /// and the final checkpoint wait until none is in flight.
    public var maxConcurrentCheckpoints: Int
    public var mode: CheckpointingMode
    /// Checkpoints that may fail in a row (declined by a task, e.g. its state could not be written;
    /// timed out; or their metadata could not be written) before the job fails; 0 (the default, as
    /// in Flink): the first failed checkpoint fails the job. A completed checkpoint resets the count.
    /// Savepoints and checkpoints abandoned for other reasons (subsumed, an input ended) do not count.
    public var tolerableFailures: Int
    /// Unaligned checkpoints (Flink's `execution.checkpointing.unaligned`): under backpressure a
    /// barrier overtakes the records queued before it, which are stored with the checkpoint as
    /// channel state and replayed on restore, so a checkpoint does not wait for the backlog to
    /// drain. Exactly-once only, one checkpoint at a time. Savepoints and the final checkpoint stay
    /// aligned; so does a task whose input type is not `BinaryCodable`.
    public var unaligned: Bool = false
    /// With `unaligned`: a checkpoint starts aligned and switches to unaligned once it is this old
    /// (Flink's aligned-checkpoint timeout); zero: unaligned from the start.
    public var alignedCheckpointTimeout: Duration = .zero
    /// Recorded in the metadata of every checkpoint and savepoint; set by the executor per run.
    package var owner: CheckpointOwner?

    public init(
        interval: Duration? = nil, timeout: Duration = .seconds(600), retainedCheckpoints: Int = 3, directory: String? = nil,
        minPauseBetweenCheckpoints: Duration = .zero, maxConcurrentCheckpoints: Int = 1, mode: CheckpointingMode = .exactlyOnce,
        tolerableFailures: Int = 0
    ) {
        self.interval = interval
        self.timeout = timeout
        self.retainedCheckpoints = retainedCheckpoints
        self.directory = directory
        self.minPauseBetweenCheckpoints = minPauseBetweenCheckpoints
        self.maxConcurrentCheckpoints = maxConcurrentCheckpoints
        self.mode = mode
        self.tolerableFailures = tolerableFailures
    }

    // The coordinator runs on the runtime clock, in milliseconds.
    var intervalMillis: Int64? { interval?.wholeMilliseconds }
    var timeoutMillis: Int64 { timeout.wholeMilliseconds }
    var minPauseMillis: Int64 { minPauseBetweenCheckpoints.wholeMilliseconds }

    /// The policy tasks follow, when unaligned checkpoints are on.
    func unalignedPolicy(clock: any RuntimeClock) -> UnalignedCheckpointPolicy? {
        guard unaligned, mode == .exactlyOnce else { return nil }
        return UnalignedCheckpointPolicy(alignedTimeoutMillis: alignedCheckpointTimeout.wholeMilliseconds, clock: clock)
    }

    /// Refuses settings that cannot work, saying what to change.
    func validate() throws {
        guard maxConcurrentCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "maxConcurrentCheckpoints is \(maxConcurrentCheckpoints), but at least one checkpoint must be allowed in flight: "
                    + "set it to 1 (one at a time) or more; to turn periodic checkpoints off, set interval to nil.")
        }
        if let interval, interval.wholeMilliseconds < 1 {
            throw RuntimeConfigurationError.invalid(
                "The checkpoint interval must be at least 1 ms (got \(interval)); use nil to disable periodic checkpoints.")
        }
        guard tolerableFailures >= 0 else {
            throw RuntimeConfigurationError.invalid(
                "tolerableFailures is \(tolerableFailures): it counts checkpoints that may fail in a row before the job fails; use 0 or more.")
        }
        if unaligned {
            guard mode == .exactlyOnce else {
                throw RuntimeConfigurationError.invalid(
                    "Unaligned checkpoints need the exactly-once checkpointing mode (at-least-once never aligns, so it has nothing "
                        + "to overtake): turn unaligned off or use exactly-once.")
            }
            guard effectiveMaxConcurrentCheckpoints == 1 else {
                throw RuntimeConfigurationError.invalid(
                    "Unaligned checkpoints run one at a time (as in Flink), but maxConcurrentCheckpoints is \(maxConcurrentCheckpoints): set it to 1.")
            }
            guard alignedCheckpointTimeout >= .zero else {
                throw RuntimeConfigurationError.invalid(
                    "alignedCheckpointTimeout is \(alignedCheckpointTimeout): use zero (unaligned at once) or a positive duration.")
            }
        }
        guard timeoutMillis >= 1, minPauseBetweenCheckpoints >= .zero, retainedCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "Checkpointing needs a timeout of at least 1 ms, a minPauseBetweenCheckpoints >= 0 and retainedCheckpoints >= 1 "
                    + "(got \(timeout), \(minPauseBetweenCheckpoints), \(retainedCheckpoints)).")
        }
    }

    /// Checkpoints (not savepoints) allowed in flight: a minimum pause forces one at a time.
    var effectiveMaxConcurrentCheckpoints: Int {
        minPauseMillis > 0 ? 1 : max(1, maxConcurrentCheckpoints)
    }

    /// When the next periodic checkpoint may start: one interval after the last trigger and the
    /// minimum pause after the last checkpoint ended (nil: periodic checkpoints are off).
    func nextPeriodicTrigger(lastTriggerAt: Int64, lastEndedAt: Int64?) -> Int64? {
        guard let interval = intervalMillis else { return nil }
        let byInterval = lastTriggerAt + interval
        guard let lastEndedAt else { return byInterval }
        return max(byInterval, lastEndedAt + minPauseMillis)
    }
}

/// More checkpoints failed in a row than the job tolerates (`CheckpointConfig.tolerableFailures`).
public struct CheckpointFailuresExceeded: Error, CustomStringConvertible, Sendable {
    public let checkpointId: Int64
    /// Why the last one failed: for a storage failure, the path and the system's error.
    public let reason: String
    public let consecutiveFailures: Int
    public let tolerable: Int
    public let lastCompletedId: Int64?

    public var description: String {
        let resume = lastCompletedId.map { "the job resumes from checkpoint \($0)" } ?? "no checkpoint completed yet, so the job starts afresh"
        let cause = reason.hasSuffix(".") ? String(reason.dropLast()) : reason
        return "Checkpoint \(checkpointId) failed: \(cause). \(consecutiveFailures) checkpoint(s) failed in a row, more than the "
            + "\(tolerable) tolerated (--tolerable-checkpoint-failures), so the job stops instead of piling up uncommitted "
            + "transactions. Fix the cause, then restart: \(resume)."
    }
}
