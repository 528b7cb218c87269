import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checkpoints in a directory: `chk-<N>/` per checkpoint, one state file per task subtask,
/// `chk-<N>/_metadata` written last (temp file, fsync, rename, fsync directory).
package final class FileSystemCheckpointStorage: CheckpointStorage {
    package let directory: String
    static let metadataName = "_metadata"
    /// A second copy of `_metadata`, written just before it: a damaged `_metadata` then still names
    /// the checkpoint's state and committables, so the restore need not fall back to an older
    /// checkpoint (which would repeat output this one committed).
    static let metadataCopyName = "_metadata.copy"
    /// Set for a self-contained snapshot folder (a savepoint, or a checkpoint opened by path):
    /// every id lives in this one folder.
    let snapshotFolder: String?

    package init(directory: String) {
        self.directory = directory
        self.snapshotFolder = nil
    }

    /// Storage of one self-contained snapshot folder (e.g. `<dir>/savepoint-7-1700000000000`).
    init(snapshotFolder: String) {
        self.directory = (snapshotFolder as NSString).deletingLastPathComponent
        self.snapshotFolder = snapshotFolder
    }

    package func folder(_ id: Int64) -> String { snapshotFolder ?? "\(directory)/chk-\(id)" }

    /// Opens a savepoint or checkpoint by path (its folder or its `_metadata` file) and validates
    /// its metadata (magic, format version, checksum, state files present). Returns the metadata
    /// and a storage that reads the snapshot's state.
    package static func openSnapshot(at path: String) throws -> (metadata: CheckpointMetadata, storage: any CheckpointStorage) {
        var folder = path
        while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
        if (folder as NSString).lastPathComponent == metadataName { folder = (folder as NSString).deletingLastPathComponent }
        let metadataPath = "\(folder)/\(metadataName)"
        guard let contents = CheckpointMetadata.readFile(atPath: metadataPath) else {
            throw CheckpointStorageError.unusableSnapshot(path: path, reason: "there is no \(metadataName) file at \(metadataPath) (the snapshot does not exist or did not complete)")
        }
        let metadata: CheckpointMetadata
        do {
            metadata = try CheckpointMetadata.decode([UInt8](contents))
        } catch let error as CheckpointMetadataError {
            throw CheckpointStorageError.unusableSnapshot(path: path, reason: error.description)
        }
        for op in metadata.operators {
            for subtask in op.subtasks {
                for handle in subtask.stateHandles
                where !FileManager.default.fileExists(atPath: "\(folder)/\(handle.location)") {
                    throw CheckpointStorageError.unusableSnapshot(path: path, reason: "its state file \(handle.location) is missing")
                }
            }
        }
        let storage = FileSystemCheckpointStorage(snapshotFolder: folder)
        for file in metadata.stateFiles {
            let location = storage.stateFileLocation(file, checkpointId: metadata.checkpointId)
            guard FileManager.default.fileExists(atPath: location) else {
                throw CheckpointStorageError.unusableSnapshot(path: path, reason: "its state file \(location) is missing")
            }
        }
        return (metadata, storage)
    }

    package func metadataPath(_ id: Int64) -> String { "\(folder(id))/\(Self.metadataName)" }

    package func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
        let dir = folder(checkpointId)
        try Self.makeDirectory(dir)
        let fileName = Self.sanitize(name) + ".state"
        var data: [UInt8] = []
        data.reserveCapacity(blobs.reduce(0) { $0 + $1.count })
        var handles: [StateHandle?] = []
        for blob in blobs {
            if blob.isEmpty {
                handles.append(nil)
                continue
            }
            handles.append(StateHandle(
                location: fileName, offset: UInt64(data.count), length: UInt64(blob.count), checksum: CRC32.checksum(blob)))
            data.append(contentsOf: blob)
        }
        if !data.isEmpty { try Self.writeDurably(data, to: "\(dir)/\(fileName)") }
        return handles
    }

    package func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] {
        let path = "\(folder(checkpointId))/\(handle.location)"
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw CheckpointStorageError.missingState(location: path, checkpointId: checkpointId)
        }
        let lower = Int(handle.offset)
        let upper = lower + Int(handle.length)
        guard upper <= contents.count else {
            throw CheckpointStorageError.stateChecksumMismatch(location: path, checkpointId: checkpointId)
        }
        let bytes = [UInt8](contents[lower..<upper])
        guard CRC32.checksum(bytes) == handle.checksum else {
            throw CheckpointStorageError.stateChecksumMismatch(location: path, checkpointId: checkpointId)
        }
        return bytes
    }

    package func commit(_ metadata: CheckpointMetadata) throws {
        let dir = folder(metadata.checkpointId)
        try Self.makeDirectory(dir)
        let final = "\(dir)/\(Self.metadataName)"
        let temp = final + ".inprogress"
        let encoded = metadata.encoded()
        try Self.writeDurably(encoded, to: "\(dir)/\(Self.metadataCopyName)")
        try Self.writeDurably(encoded, to: temp)
        guard rename(temp, final) == 0 else { throw CheckpointStorageError.io(path: final, operation: "rename into", errno: errno) }
        try Self.fsyncDirectory(dir)
    }

    /// Checkpoint ids of the `chk-<N>` folders, ascending (savepoint folders are never listed,
    /// so retention and clean-up never touch them).
    func checkpointIDs() -> [Int64] {
        guard snapshotFolder == nil else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int64? in
            guard name.hasPrefix("chk-") else { return nil }
            return Int64(name.dropFirst(4))
        }.sorted()
    }

    /// Loads and validates the metadata of checkpoint `id`; reads its copy when `_metadata` is damaged.
    package func loadMetadata(_ id: Int64, logger: Logger? = nil) throws -> CheckpointMetadata {
        do {
            return try loadMetadata(id, file: Self.metadataName)
        } catch let primary as CheckpointStorageError {
            guard FileManager.default.fileExists(atPath: "\(folder(id))/\(Self.metadataCopyName)"),
                  let copy = try? loadMetadata(id, file: Self.metadataCopyName) else { throw primary }
            logger?.warning("\(primary). Restoring it from its copy \(Self.metadataCopyName).")
            return copy
        }
    }

    private func loadMetadata(_ id: Int64, file: String) throws -> CheckpointMetadata {
        let path = "\(folder(id))/\(file)"
        guard let contents = CheckpointMetadata.readFile(atPath: path) else {
            throw CheckpointStorageError.unusableCheckpoint(checkpointId: id, path: path, reason: "no metadata file (the checkpoint did not complete)")
        }
        let metadata: CheckpointMetadata
        do {
            metadata = try CheckpointMetadata.decode([UInt8](contents))
        } catch let error as CheckpointMetadataError {
            throw CheckpointStorageError.unusableCheckpoint(checkpointId: id, path: path, reason: error.description)
        }
        guard metadata.checkpointId == id else {
            throw CheckpointStorageError.unusableCheckpoint(
                checkpointId: id, path: path, reason: "it names checkpoint \(metadata.checkpointId)")
        }
        for op in metadata.operators {
            for subtask in op.subtasks {
                for handle in subtask.stateHandles
                where !FileManager.default.fileExists(atPath: "\(folder(id))/\(handle.location)") {
                    throw CheckpointStorageError.unusableCheckpoint(
                        checkpointId: id, path: path, reason: "its state file \(handle.location) is missing")
                }
            }
        }
        return metadata
    }

    package func latestCompleted(logger: Logger) -> CheckpointMetadata? {
        latestCompleted(before: Int64.max, logger: logger)
    }

    package func latestCompleted(before checkpointId: Int64, logger: Logger) -> CheckpointMetadata? {
        newestCompleted(before: checkpointId, logger: logger) { _, error in
            logger.warning("\(error). Falling back to the previous completed checkpoint.")
        }
    }

    /// The newest completed checkpoint; when neither its `_metadata` nor the copy can be read, an
    /// error naming it and the choices (an older one is not restored silently: the newest one's
    /// transactions may have been committed, and replaying from an older one would write them again).
    package func latestRestorable(logger: Logger) throws -> CheckpointMetadata? {
        try newestCompleted(before: Int64.max, logger: logger) { id, error in
            let older = latestCompleted(before: id, logger: logger).map { folder($0.checkpointId) }
            throw CheckpointStorageError.newestCheckpointUnusable(
                checkpointId: id, folder: folder(id), reason: "\(error)", older: older)
        }
    }

    /// The metadata of the newest checkpoint older than `checkpointId` that completed (has a
    /// `_metadata`; its copy is read when that is damaged). One whose metadata cannot be read goes to
    /// `unusable`, which throws to stop there or returns to try the next older one.
    private func newestCompleted(
        before checkpointId: Int64, logger: Logger, unusable: (Int64, any Error) throws -> Void
    ) rethrows -> CheckpointMetadata? {
        for id in checkpointIDs().reversed() where id < checkpointId {
            guard FileManager.default.fileExists(atPath: metadataPath(id)) else {
                logger.debug("Skipping checkpoint \(id): it has no metadata, so it never completed.")
                continue
            }
            do {
                return try loadMetadata(id, logger: logger)
            } catch {
                try unusable(id, error)
            }
        }
        return nil
    }

    package func discard(checkpointId: Int64) {
        try? FileManager.default.removeItem(atPath: folder(checkpointId))
    }

    // MARK: state files

    /// `<directory>/shared`: files referenced by incremental checkpoints.
    package var sharedDirectory: String { "\(directory)/shared" }

    package var sharedStateNamespace: String? { snapshotFolder == nil ? sharedDirectory : nil }

    func stateFileLocation(_ file: StateFileHandle, checkpointId: Int64) -> String {
        switch file.scope {
        case .shared: return "\(sharedDirectory)/\(file.name)"
        case .exclusive: return "\(folder(checkpointId))/files/\(file.name)"
        }
    }

    package func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
        // A savepoint folder never references shared/: it must stay self-contained.
        let scope: StateFileScope = snapshotFolder == nil ? scope : .exclusive
        let placeholder = StateFileHandle(name: Self.sanitizeFileName(name), scope: scope, length: 0, checksum: 0)
        let destination = stateFileLocation(placeholder, checkpointId: checkpointId)
        let dir = (destination as NSString).deletingLastPathComponent
        try Self.makeDirectory(dir)
        let temp = destination + ".inprogress"
        let (length, checksum) = try StateFiles.copyDurably(from: localPath, to: temp)
        guard rename(temp, destination) == 0 else {
            throw CheckpointStorageError.io(path: destination, operation: "rename into", errno: errno)
        }
        try Self.fsyncDirectory(dir)
        return StateFileHandle(name: placeholder.name, scope: scope, length: length, checksum: checksum)
    }

    package func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
        let path = stateFileLocation(file, checkpointId: checkpointId)
        try StateFiles.verify(file, at: path, checkpointId: checkpointId)
        return path
    }
}
