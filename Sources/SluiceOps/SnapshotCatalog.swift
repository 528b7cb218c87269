import Foundation
import SluiceRuntime

/// The checkpoints and savepoints in a folder, as `sluice checkpoints` lists them: each snapshot
/// folder is opened with the runtime's own validation (`FileSystemCheckpointStorage.openSnapshot`:
/// magic, format version, checksum, state files present), so "valid" means "restorable".
public struct SnapshotEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case checkpoint, savepoint
    }

    public var path: String
    /// The id from the metadata, else from the folder name.
    public var id: Int64?
    public var kind: Kind
    /// Bytes of every file in the folder.
    public var bytesOnDisk: Int64
    /// When it completed (metadata timestamp), else the folder's modification time; epoch millis.
    public var timeMillis: Int64?
    /// nil: complete and restorable; otherwise why not (e.g. no `_metadata`: it never completed).
    public var problem: String?
    /// Parallelism of each operator (from the metadata).
    public var parallelism: Int?
    /// Which worker process wrote it (from the metadata; snapshots older than worker layouts read
    /// as worker 0 of 1); nil when the metadata could not be read.
    public var worker: WorkerLayout?

    public var isValid: Bool { problem == nil }
}

public enum SnapshotCatalog {
    /// Lists `chk-<N>` folders and savepoint folders in `directory`, and in its `savepoints`
    /// subfolder, and the same in each `worker-<i>` subfolder (a job run as several worker
    /// processes keeps each worker's there); oldest first. A folder that is itself a snapshot is
    /// listed alone.
    public static func list(_ directory: String) throws -> [SnapshotEntry] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SnapshotCatalogError.notAFolder(directory)
        }
        if FileManager.default.fileExists(atPath: directory + "/_metadata") || isSnapshotName((directory as NSString).lastPathComponent) {
            return [entry(directory)]
        }
        var entries: [SnapshotEntry] = []
        let workerFolders = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("worker-") && Int($0.dropFirst(7)) != nil }
            .map { directory + "/" + $0 }
        for folder in ([directory] + workerFolders).flatMap({ [$0, $0 + "/savepoints"] }) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            entries += names.filter(isSnapshotName).map { entry(folder + "/" + $0) }
        }
        return entries.sorted { ($0.timeMillis ?? 0, $0.id ?? 0, $0.path) < ($1.timeMillis ?? 0, $1.id ?? 0, $1.path) }
    }

    static func isSnapshotName(_ name: String) -> Bool {
        (name.hasPrefix("chk-") && Int64(name.dropFirst(4)) != nil) || name.hasPrefix("savepoint-")
    }

    static func entry(_ path: String) -> SnapshotEntry {
        let name = (path as NSString).lastPathComponent
        let kind: SnapshotEntry.Kind = name.hasPrefix("savepoint-") ? .savepoint : .checkpoint
        let idFromName = name.hasPrefix("chk-")
            ? Int64(name.dropFirst(4))
            : name.split(separator: "-").dropFirst().first.flatMap { Int64($0) }
        var entry = SnapshotEntry(path: path, id: idFromName, kind: kind, bytesOnDisk: bytes(path),
                                  timeMillis: modificationMillis(path), problem: nil, parallelism: nil)
        guard FileManager.default.fileExists(atPath: path + "/_metadata") else {
            entry.problem = "incomplete: no _metadata"
            return entry
        }
        do {
            let (metadata, _) = try FileSystemCheckpointStorage.openSnapshot(at: path)
            entry.id = metadata.checkpointId
            entry.kind = metadata.kind == .savepoint ? .savepoint : .checkpoint
            entry.timeMillis = metadata.timestamp
            entry.parallelism = metadata.operators.map(\.parallelism).max()
            entry.worker = metadata.owner?.workers ?? .single
        } catch {
            entry.problem = "\(error)"
        }
        return entry
    }

    static func bytes(_ folder: String) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return 0 }
        var total: Int64 = 0
        while let name = enumerator.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }

    static func modificationMillis(_ path: String) -> Int64? {
        guard let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }
}

public enum SnapshotCatalogError: Error, CustomStringConvertible {
    case notAFolder(String)

    public var description: String {
        switch self {
        case .notAFolder(let path): return "\(path) is not a folder: give the job's --checkpoint-dir (or its savepoints folder)."
        }
    }
}
