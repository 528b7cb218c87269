import Foundation
import Logging
import Synchronization

/// Checkpoints in memory (Flink's JobManager storage): survive restarts inside the process only.
/// The default when no checkpoint directory is configured.
/// State files (on-disk backend) go to a private temporary folder, one sub-folder per checkpoint,
/// removed with the checkpoint; every checkpoint is self-contained (no shared files).
package final class InMemoryCheckpointStorage: CheckpointStorage {
    private struct Stored {
        var blobs: [String: [UInt8]] = [:]
        var metadata: CheckpointMetadata?
    }
    private let checkpoints = Mutex<[Int64: Stored]>([:])
    private let filesDirectory = "\(NSTemporaryDirectory())/sluice-memory-checkpoints-\(UUID().uuidString)"

    package init() {}

    deinit { try? FileManager.default.removeItem(atPath: filesDirectory) }

    private func filesFolder(_ id: Int64) -> String { "\(filesDirectory)/chk-\(id)" }

    private func removeFiles(_ id: Int64) { try? FileManager.default.removeItem(atPath: filesFolder(id)) }

    package func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
        let dir = filesFolder(checkpointId)
        try FileSystemCheckpointStorage.makeDirectory(dir)
        let safe = FileSystemCheckpointStorage.sanitizeFileName(name)
        let (length, checksum) = try StateFiles.copyDurably(from: localPath, to: "\(dir)/\(safe)")
        return StateFileHandle(name: safe, scope: .exclusive, length: length, checksum: checksum)
    }

    package func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
        let path = "\(filesFolder(checkpointId))/\(file.name)"
        try StateFiles.verify(file, at: path, checkpointId: checkpointId)
        return path
    }

    package func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
        var handles: [StateHandle?] = []
        checkpoints.withLock { all in
            var stored = all[checkpointId] ?? Stored()
            for (i, blob) in blobs.enumerated() {
                guard !blob.isEmpty else {
                    handles.append(nil)
                    continue
                }
                let location = "\(name)#\(i)"
                stored.blobs[location] = blob
                handles.append(StateHandle(location: location, offset: 0, length: UInt64(blob.count), checksum: CRC32.checksum(blob)))
            }
            all[checkpointId] = stored
        }
        return handles
    }

    package func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] {
        guard let blob = checkpoints.withLock({ $0[checkpointId]?.blobs[handle.location] }) else {
            throw CheckpointStorageError.missingState(location: handle.location, checkpointId: checkpointId)
        }
        return blob
    }

    package func commit(_ metadata: CheckpointMetadata) throws {
        checkpoints.withLock { all in
            var stored = all[metadata.checkpointId] ?? Stored()
            stored.metadata = metadata
            all[metadata.checkpointId] = stored
        }
    }

    package func latestCompleted(logger: Logger) -> CheckpointMetadata? {
        checkpoints.withLock { all in
            for id in all.keys.sorted().reversed() {
                if let metadata = all[id]?.metadata { return metadata }
            }
            return nil
        }
    }

    package func latestCompleted(before checkpointId: Int64, logger: Logger) -> CheckpointMetadata? {
        checkpoints.withLock { all in
            for id in all.keys.sorted().reversed() where id < checkpointId {
                if let metadata = all[id]?.metadata { return metadata }
            }
            return nil
        }
    }

    package func discard(checkpointId: Int64) {
        _ = checkpoints.withLock { $0.removeValue(forKey: checkpointId) }
        removeFiles(checkpointId)
    }

    package func retainLatest(_ count: Int, logger: Logger) {
        let removed: [Int64] = checkpoints.withLock { all in
            let completed = all.keys.filter { all[$0]?.metadata != nil }.sorted()
            guard let oldestKept = completed.suffix(max(1, count)).first else { return [] }
            let old = all.keys.filter { $0 < oldestKept }
            for id in old { all.removeValue(forKey: id) }
            return old
        }
        for id in removed { removeFiles(id) }
    }

    package func removeNewer(than checkpointId: Int64?, logger: Logger) {
        let removed: [Int64] = checkpoints.withLock { all in
            let newer = all.keys.filter { $0 > (checkpointId ?? 0) }
            for id in newer { all.removeValue(forKey: id) }
            return newer
        }
        for id in removed { removeFiles(id) }
    }
}
