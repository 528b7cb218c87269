/// How a job ended.
public struct JobResult: Sendable {
    public enum Status: Sendable, Equatable {
        case finished
        case cancelled
        /// `JobControl.stopWithSavepoint` completed: the savepoint's folder.
        case stoppedWithSavepoint(String)
    }
    public let status: Status
    public let restarts: Int
    /// The last checkpoint completed by the job (in its last attempt), if any.
    public let lastCompletedCheckpoint: Int64?
}

/// The job failed for good: the restart strategy gave up.
public struct JobFailedError: Error, CustomStringConvertible {
    public let underlying: any Error
    public let restarts: Int
    public var description: String {
        "The job failed after \(restarts) restart(s): \(underlying)"
    }
}

/// Configuration problems, with what to change.
public enum RuntimeConfigurationError: Error, CustomStringConvertible {
    case invalid(String)
    /// An exactly-once sink whose checkpoints would only live in memory: a restarted process would
    /// lose them and write its output again.
    case exactlyOnceWithoutDurableCheckpoints(sink: String)
    public var description: String {
        switch self {
        case .invalid(let why): return why
        case .exactlyOnceWithoutDurableCheckpoints(let sink):
            return "The exactly-once sink '\(sink)' needs durable checkpoints, but the job has no checkpoint directory: "
                + "checkpoints kept in memory are lost with the process, and a restarted job would write its output again. "
                + "Give the job a checkpoint directory (CheckpointConfig.directory, --checkpoint-dir), or use an at-least-once sink."
        }
    }
}

/// A running job's state as operators and status endpoints show it.
public struct JobStatus: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable {
        case created, running, restarting, finished, failed, cancelled, stoppedWithSavepoint
    }

    public var phase: Phase = .created
    public var restarts = 0
    public var lastCompletedCheckpoint: Int64?
    public var lastCheckpointDurationMillis: Int64?
    public var lastCheckpointBytes: Int64?
    /// Wall-clock milliseconds since the epoch when the last checkpoint completed.
    public var lastCheckpointCompletedAtMillis: Int64?
    public var lastFailure: String?
    /// The checkpoint or savepoint id the current attempt restored (nil: it started empty). After a
    /// process restart this is how a job shows it recovered.
    public var restoredFromCheckpoint: Int64?
    /// Set when a restore found transactions of its checkpoint aborted: what was missing and what the job did.
    public var lostTransactions: LostTransactionsStatus?

    public init() {}
}
