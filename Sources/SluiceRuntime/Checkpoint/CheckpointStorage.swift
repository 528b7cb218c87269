import Logging

/// Where checkpoints go. Task subtasks write their state; the coordinator writes the metadata
/// last, which completes the checkpoint. Implementations must be safe to call from any thread.
package protocol CheckpointStorage: Sendable, StateFileStorage {
    /// Durably writes the state blobs of one task subtask; returns one handle per non-empty blob
    /// (nil for an empty blob).
    func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?]
    /// Reads and verifies (checksum) one state blob of a completed checkpoint.
    func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8]
    /// Makes the checkpoint complete: writes its metadata atomically and durably.
    func commit(_ metadata: CheckpointMetadata) throws
    /// The newest completed checkpoint whose metadata is valid, falling back over damaged ones
    /// (each logged with the reason).
    func latestCompleted(logger: Logger) -> CheckpointMetadata?
    /// The newest completed checkpoint older than `checkpointId` whose metadata is valid (a rewind's target).
    func latestCompleted(before checkpointId: Int64, logger: Logger) -> CheckpointMetadata?
    /// The checkpoint to restore after a restart: the newest completed one, or an error when it
    /// cannot be read (falling back over it could repeat output it committed).
    func latestRestorable(logger: Logger) throws -> CheckpointMetadata?
    /// Removes everything of a checkpoint that did not complete.
    func discard(checkpointId: Int64)
    /// Keeps the newest `count` completed checkpoints and removes older and unfinished ones.
    func retainLatest(_ count: Int, logger: Logger)
    /// Before a restore from `checkpointId` (nil: fresh start): removes newer, unusable leftovers
    /// so their ids can be used again.
    func removeNewer(than checkpointId: Int64?, logger: Logger)
    /// Records, before any sink commits it, the savepoint a stop-with-savepoint wrote (see
    /// `StopSavepointPointer.swift`); a storage that survives no process may ignore it.
    func recordStopSavepoint(path: String) throws
    /// The stop savepoint to resume from instead of the latest checkpoint, if it is newer.
    func stopSavepointToResume(logger: Logger) throws -> RestorableSnapshot?
}

extension CheckpointStorage {
    package func latestCompleted(before checkpointId: Int64, logger: Logger) -> CheckpointMetadata? { nil }
    package func latestRestorable(logger: Logger) throws -> CheckpointMetadata? { latestCompleted(logger: logger) }
}

/// A snapshot opened for a restore: where it is, its metadata, and the storage that reads its state.
package struct RestorableSnapshot: Sendable {
    package let path: String
    package let metadata: CheckpointMetadata
    let storage: any CheckpointStorage
}
