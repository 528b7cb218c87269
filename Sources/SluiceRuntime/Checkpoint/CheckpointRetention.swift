import Foundation
import Logging

/// Retention and reference counting of a checkpoint directory: which `chk-<N>` folders and shared
/// state files stay, and what a restore clears away.
extension FileSystemCheckpointStorage {
    package func retainLatest(_ count: Int, logger: Logger) {
        let ids = checkpointIDs()
        let completed = ids.filter { FileManager.default.fileExists(atPath: metadataPath($0)) }
        let keep = Set(completed.suffix(max(1, count)))
        guard let oldestKept = keep.min() else { return }
        for id in ids where !keep.contains(id) && id < oldestKept {
            logger.debug("Removing checkpoint \(id) (retaining the latest \(count)).")
            discard(checkpointId: id)
        }
        removeUnreferencedSharedFiles(logger: logger)
    }

    /// Deletes the shared files no retained checkpoint references. The reference count is derived
    /// from the metadata of the checkpoints on disk each time (never stored), so a crash in the
    /// middle of a clean-up only leaves files that the next clean-up removes. Files written for a
    /// checkpoint newer than the latest completed one may belong to one in progress and are kept;
    /// if any retained metadata cannot be read, nothing is deleted.
    func removeUnreferencedSharedFiles(logger: Logger) {
        guard snapshotFolder == nil,
              let names = try? FileManager.default.contentsOfDirectory(atPath: sharedDirectory) else { return }
        var referenced = Set<String>()
        var latestCompleted: Int64?
        for id in checkpointIDs() where FileManager.default.fileExists(atPath: metadataPath(id)) {
            guard let contents = CheckpointMetadata.readFile(atPath: metadataPath(id)),
                  let metadata = try? CheckpointMetadata.decode([UInt8](contents)) else {
                logger.warning("Not cleaning up \(sharedDirectory): the metadata of checkpoint \(id) is unreadable, so its shared files are unknown.")
                return
            }
            latestCompleted = max(latestCompleted ?? id, id)
            for file in metadata.stateFiles where file.scope == .shared { referenced.insert(file.name) }
        }
        guard let latestCompleted else { return }
        for name in names where !referenced.contains(name) {
            let creator = StateFiles.creatorCheckpoint(of: name) ?? Int64.max
            guard creator <= latestCompleted else { continue }
            logger.debug("Removing shared state file \(name): no retained checkpoint references it.")
            try? FileManager.default.removeItem(atPath: "\(sharedDirectory)/\(name)")
        }
    }

    /// Unfinished folders are deleted; folders with damaged metadata are kept for inspection under
    /// `chk-<N>.unusable-<time>` (no longer seen as checkpoints) so their id can be used again.
    package func removeNewer(than checkpointId: Int64?, logger: Logger) {
        for id in checkpointIDs() where id > (checkpointId ?? 0) {
            if FileManager.default.fileExists(atPath: metadataPath(id)) {
                let kept = "\(folder(id)).unusable-\(Int64(Date().timeIntervalSince1970 * 1000))"
                logger.warning("Moving unusable checkpoint \(folder(id)) to \(kept).")
                do {
                    try FileManager.default.moveItem(atPath: folder(id), toPath: kept)
                } catch {
                    discard(checkpointId: id)
                }
            } else {
                logger.info("Removing checkpoint folder \(folder(id)): it never completed.")
                discard(checkpointId: id)
            }
        }
    }
}
