import Foundation
import Logging

/// After stop-with-savepoint the job's sinks have committed everything up to the savepoint, so the
/// checkpoint directory's latest checkpoint is older than the output. A restart from it would
/// replay and commit those records again. The coordinator therefore records the savepoint in the
/// checkpoint storage before any sink commits it, and a restore without an explicit snapshot (a new
/// process, or a restart inside this one) resumes from that savepoint while it is newer than every
/// completed checkpoint.
extension CheckpointStorage {
    package func recordStopSavepoint(path: String) throws {}
    package func stopSavepointToResume(logger: Logger) throws -> RestorableSnapshot? { nil }
}

extension FileSystemCheckpointStorage {
    static let stopSavepointPointerName = "_stopped-with-savepoint"

    var stopSavepointPointerPath: String { "\(directory)/\(Self.stopSavepointPointerName)" }

    /// Writes the pointer durably (temp file, rename, fsync of the directory): a lost pointer means duplicates.
    package func recordStopSavepoint(path: String) throws {
        let temp = "\(stopSavepointPointerPath).tmp"
        try Self.writeDurably(Array(path.utf8), to: temp)
        guard rename(temp, stopSavepointPointerPath) == 0 else {
            throw CheckpointStorageError.io(path: stopSavepointPointerPath, operation: "rename", errno: errno)
        }
        try Self.fsyncDirectory(directory)
    }

    /// The savepoint the job last stopped with, if no checkpoint completed after it. A pointer to a
    /// savepoint that is gone or damaged is refused rather than silently replaced by an older checkpoint.
    package func stopSavepointToResume(logger: Logger) throws -> RestorableSnapshot? {
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
        return RestorableSnapshot(path: path, metadata: snapshot.metadata, storage: snapshot.storage)
    }
}
