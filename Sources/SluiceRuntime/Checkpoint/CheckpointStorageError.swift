import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of checkpoint storage; each names the path and what to do.
public enum CheckpointStorageError: Error, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case missingState(location: String, checkpointId: Int64)
    case stateChecksumMismatch(location: String, checkpointId: Int64)
    case unusableCheckpoint(checkpointId: Int64, path: String, reason: String)
    /// A savepoint or checkpoint named explicitly to restore from cannot be used.
    case unusableSnapshot(path: String, reason: String)
    /// A state file (on-disk backend) a checkpoint references is not there.
    case missingStateFile(path: String, checkpointId: Int64)
    /// A state file's length or checksum differs from what the checkpoint recorded.
    case corruptStateFile(path: String, checkpointId: Int64, reason: String)
    /// This storage keeps no state files (a custom `CheckpointStorage` without them).
    case stateFilesUnsupported(storage: String)
    /// The newest completed checkpoint cannot be read, and an older one may repeat output it committed.
    case newestCheckpointUnusable(checkpointId: Int64, folder: String, reason: String, older: String?)

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            return "Checkpoint storage could not \(operation) '\(path)': \(String(cString: strerror(code))) (errno \(code)). "
                + "Check that the checkpoint directory is writable, has free space and is not in the way of a file."
        case .missingState(let location, let id):
            return "State file '\(location)' of checkpoint \(id) is missing."
        case .stateChecksumMismatch(let location, let id):
            return "State in '\(location)' of checkpoint \(id) fails its checksum: the file is damaged."
        case .unusableCheckpoint(let id, let path, let reason):
            return "Checkpoint \(id) at \(path) is unusable: \(reason)"
        case .unusableSnapshot(let path, let reason):
            return "Cannot restore from '\(path)': \(reason). Name a savepoint or checkpoint folder (or its _metadata file) written by a compatible Sluice version."
        case .missingStateFile(let path, let id):
            return "State file '\(path)' needed by checkpoint \(id) is missing: the state cannot be restored from this checkpoint. "
                + "Restore from a savepoint or an older checkpoint, or start without state."
        case .corruptStateFile(let path, let id, let reason):
            return "State file '\(path)' needed by checkpoint \(id) is damaged (\(reason)): the state cannot be restored from this checkpoint. "
                + "Restore from a savepoint or an older checkpoint, or start without state."
        case .stateFilesUnsupported(let storage):
            return "The checkpoint storage \(storage) cannot keep state files, which the on-disk state backend needs: "
                + "use a checkpoint directory (FileSystemCheckpointStorage), the in-memory storage, or the heap state backend."
        case .newestCheckpointUnusable(let id, let folder, let reason, let older):
            let choice = older.map { "start from it explicitly (--from-savepoint \($0)), which moves \(folder) aside" }
                ?? "start without state after moving \(folder) aside"
            return "The newest checkpoint, \(id) at \(folder), cannot be restored: \(reason). An older checkpoint is not restored "
                + "in its place, because the transactions checkpoint \(id) promised may have been committed and would be written "
                + "again. Repair or restore \(folder) from a copy, or accept possible duplicates and \(choice)."
        }
    }
}
