import Foundation
import Logging

/// After stop-with-savepoint the job's sinks have committed everything up to the savepoint, so the
/// checkpoint directory's latest checkpoint is older than the output. A plain restart from it would
/// replay and commit those records again. The executor therefore leaves a pointer to the savepoint in
/// the checkpoint directory, and a start without an explicit snapshot resumes from that savepoint
/// while it is newer than every completed checkpoint.
extension FileSystemCheckpointStorage {
    static let stopSavepointPointerName = "_stopped-with-savepoint"

    var stopSavepointPointerPath: String { "\(directory)/\(Self.stopSavepointPointerName)" }

    /// Records the savepoint the job stopped with (durably: a lost pointer means duplicates).
    func recordStopSavepoint(path: String) throws {
        let temp = "\(stopSavepointPointerPath).tmp"
        try Self.writeDurably(Array(path.utf8), to: temp)
        guard rename(temp, stopSavepointPointerPath) == 0 else {
            throw CheckpointStorageError.io(path: stopSavepointPointerPath, operation: "rename", errno: errno)
        }
        try Self.fsyncDirectory(directory)
    }

    /// The savepoint to resume from when the job starts without an explicit snapshot: the one the
    /// job last stopped with, if no checkpoint completed after it. A pointer to a savepoint that is
    /// gone or damaged is refused rather than silently falling back to an older checkpoint.
    func stopSavepointToResume(logger: Logger) throws -> (path: String, metadata: CheckpointMetadata, storage: any CheckpointStorage)? {
        guard let contents = FileManager.default.contents(atPath: stopSavepointPointerPath),
              let path = String(data: contents, encoding: .utf8), !path.isEmpty
        else { return nil }
        let snapshot: (metadata: CheckpointMetadata, storage: any CheckpointStorage)
        do {
            snapshot = try Self.openSnapshot(at: path)
        } catch let error as CheckpointStorageError {
            throw CheckpointStorageError.unusableSnapshot(
                path: path,
                reason: "the job was last stopped with this savepoint (recorded in \(stopSavepointPointerPath)), but it cannot be used: \(error). "
                    + "Restore it, start from another snapshot explicitly, or delete the pointer file to resume from the latest checkpoint.")
        }
        if let latest = latestCompleted(logger: logger), latest.checkpointId > snapshot.metadata.checkpointId { return nil }
        logger.info("The job was last stopped with savepoint \(snapshot.metadata.checkpointId) at \(path); resuming from it.")
        return (path: path, metadata: snapshot.metadata, storage: snapshot.storage)
    }
}
