import Foundation
import Logging
import Synchronization

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

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            return "Checkpoint storage could not \(operation) '\(path)': \(String(cString: strerror(code))). Check the checkpoint directory's permissions and free space."
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
        }
    }
}

/// State files: whole files a checkpoint references (the on-disk backend's database copies and
/// change logs), written from a local file and read back as a verified local path.
public protocol StateFileStorage {
    /// Non-nil when files written with scope `.shared` stay available to later checkpoints of the
    /// same storage (incremental checkpoints): identifies that shared folder. nil: every checkpoint
    /// must be self-contained (savepoints, in-memory storage).
    var sharedStateNamespace: String? { get }
    /// Durably copies `localPath` into the checkpoint and returns its handle (length, CRC-32).
    func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle
    /// The local path of a state file of a completed checkpoint, after checking it exists and
    /// matches its recorded length and checksum.
    func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String
}

extension CheckpointStorage {
    public var sharedStateNamespace: String? { nil }
    public func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
        throw CheckpointStorageError.stateFilesUnsupported(storage: "\(type(of: self))")
    }
    public func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
        throw CheckpointStorageError.stateFilesUnsupported(storage: "\(type(of: self))")
    }
}

/// Copying and verifying whole state files (written by hand: Foundation's copy neither fsyncs nor checksums).
enum StateFiles {
    /// Copies `source` to `destination` in chunks, fsyncs it, and returns (length, CRC-32).
    static func copyDurably(from source: String, to destination: String) throws -> (length: UInt64, checksum: UInt32) {
        let input = open(source, O_RDONLY)
        guard input >= 0 else { throw CheckpointStorageError.io(path: source, operation: "open", errno: errno) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard output >= 0 else { throw CheckpointStorageError.io(path: destination, operation: "create", errno: errno) }
        defer { close(output) }
        let copied = try scan(input, path: source) { chunk in
            try chunk.withUnsafeBytes { try FileSystemCheckpointStorage.writeAll(output, $0, path: destination) }
        }
        guard fsync(output) == 0 else { throw CheckpointStorageError.io(path: destination, operation: "fsync", errno: errno) }
        return copied
    }

    /// Reads `fd` to its end in 1 MiB chunks, handing each to `chunk`; returns (length, CRC-32).
    private static func scan(
        _ fd: Int32, path: String, chunk: (ArraySlice<UInt8>) throws -> Void = { _ in }
    ) throws -> (length: UInt64, checksum: UInt32) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var crc: UInt32 = 0
        var total: UInt64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointStorageError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { return (total, crc) }
            crc = CRC32.checksum(buffer[0..<n], initial: crc)
            total += UInt64(n)
            try chunk(buffer[0..<n])
        }
    }

    /// Checks that `path` exists with the handle's length and checksum.
    static func verify(_ file: StateFileHandle, at path: String, checkpointId: Int64) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw CheckpointStorageError.missingStateFile(path: path, checkpointId: checkpointId) }
            throw CheckpointStorageError.io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        let (total, crc) = try scan(fd, path: path)
        guard total == file.length else {
            throw CheckpointStorageError.corruptStateFile(
                path: path, checkpointId: checkpointId, reason: "it has \(total) bytes, the checkpoint recorded \(file.length)")
        }
        guard crc == file.checksum else {
            throw CheckpointStorageError.corruptStateFile(path: path, checkpointId: checkpointId, reason: "its checksum does not match")
        }
    }

    /// The id of the checkpoint that wrote a shared file (`<id>-...`), nil for other names.
    static func creatorCheckpoint(of name: String) -> Int64? {
        guard let dash = name.firstIndex(of: "-") else { return nil }
        return Int64(name[name.startIndex..<dash])
    }
}

/// Where checkpoints go. Task subtasks write their state; the coordinator writes the metadata
/// last, which completes the checkpoint. Implementations must be safe to call from any thread.
public protocol CheckpointStorage: Sendable, StateFileStorage {
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

/// A snapshot opened for a restore: where it is, its metadata, and the storage that reads its state.
public struct RestorableSnapshot: Sendable {
    public let path: String
    public let metadata: CheckpointMetadata
    let storage: any CheckpointStorage
}

/// Checkpoints in a directory: `chk-<N>/` per checkpoint, one state file per task subtask,
/// `chk-<N>/_metadata` written last (temp file, fsync, rename, fsync directory).
public final class FileSystemCheckpointStorage: CheckpointStorage {
    public let directory: String
    static let metadataName = "_metadata"
    /// Set for a self-contained snapshot folder (a savepoint, or a checkpoint opened by path):
    /// every id lives in this one folder.
    private let snapshotFolder: String?

    public init(directory: String) {
        self.directory = directory
        self.snapshotFolder = nil
    }

    /// Storage of one self-contained snapshot folder (e.g. `<dir>/savepoint-7-1700000000000`).
    init(snapshotFolder: String) {
        self.directory = (snapshotFolder as NSString).deletingLastPathComponent
        self.snapshotFolder = snapshotFolder
    }

    func folder(_ id: Int64) -> String { snapshotFolder ?? "\(directory)/chk-\(id)" }

    /// Opens a savepoint or checkpoint by path (its folder or its `_metadata` file) and validates
    /// its metadata (magic, format version, checksum, state files present). Returns the metadata
    /// and a storage that reads the snapshot's state.
    public static func openSnapshot(at path: String) throws -> (metadata: CheckpointMetadata, storage: any CheckpointStorage) {
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
                for handle in [subtask.operatorState, subtask.keyedState].compactMap({ $0 })
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

    public func metadataPath(_ id: Int64) -> String { "\(folder(id))/\(Self.metadataName)" }

    public func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
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

    public func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] {
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

    public func commit(_ metadata: CheckpointMetadata) throws {
        let dir = folder(metadata.checkpointId)
        try Self.makeDirectory(dir)
        let final = "\(dir)/\(Self.metadataName)"
        let temp = final + ".inprogress"
        try Self.writeDurably(metadata.encoded(), to: temp)
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

    /// Loads and validates the metadata of checkpoint `id`.
    public func loadMetadata(_ id: Int64) throws -> CheckpointMetadata {
        let path = metadataPath(id)
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
                for handle in [subtask.operatorState, subtask.keyedState].compactMap({ $0 })
                where !FileManager.default.fileExists(atPath: "\(folder(id))/\(handle.location)") {
                    throw CheckpointStorageError.unusableCheckpoint(
                        checkpointId: id, path: path, reason: "its state file \(handle.location) is missing")
                }
            }
        }
        return metadata
    }

    public func latestCompleted(logger: Logger) -> CheckpointMetadata? {
        for id in checkpointIDs().reversed() {
            guard FileManager.default.fileExists(atPath: metadataPath(id)) else {
                logger.debug("Skipping checkpoint \(id): it has no metadata, so it never completed.")
                continue
            }
            do {
                return try loadMetadata(id)
            } catch {
                logger.warning("\(error). Falling back to the previous completed checkpoint.")
            }
        }
        return nil
    }

    public func discard(checkpointId: Int64) {
        try? FileManager.default.removeItem(atPath: folder(checkpointId))
    }

    public func retainLatest(_ count: Int, logger: Logger) {
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

    // MARK: state files

    /// `<directory>/shared`: files referenced by incremental checkpoints.
    public var sharedDirectory: String { "\(directory)/shared" }

    public var sharedStateNamespace: String? { snapshotFolder == nil ? sharedDirectory : nil }

    func stateFileLocation(_ file: StateFileHandle, checkpointId: Int64) -> String {
        switch file.scope {
        case .shared: return "\(sharedDirectory)/\(file.name)"
        case .exclusive: return "\(folder(checkpointId))/files/\(file.name)"
        }
    }

    public func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
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

    public func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
        let path = stateFileLocation(file, checkpointId: checkpointId)
        try StateFiles.verify(file, at: path, checkpointId: checkpointId)
        return path
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
    public func removeNewer(than checkpointId: Int64?, logger: Logger) {
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

    // MARK: file helpers

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// Like `sanitize`, keeping dots after the first character (file extensions of state files).
    static func sanitizeFileName(_ name: String) -> String {
        String(name.enumerated().map { i, c in c.isLetter || c.isNumber || c == "-" || c == "_" || (c == "." && i > 0) ? c : "_" })
    }

    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CheckpointStorageError.io(path: path, operation: "create directory", errno: errno == 0 ? EIO : errno)
        }
    }

    /// Writes a whole file and fsyncs it before returning.
    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        try writeFile(bytes, to: path, sync: true)
    }

    /// Writes a whole file; `sync: false` for local scratch files that are copied durably later.
    static func writeFile(_ bytes: [UInt8], to path: String, sync: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointStorageError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        if sync, fsync(fd) != 0 { throw CheckpointStorageError.io(path: path, operation: "fsync", errno: errno) }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let n = write(fd, base + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointStorageError.io(path: path, operation: "write", errno: errno)
            }
            written += n
        }
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw CheckpointStorageError.io(path: path, operation: "open directory", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointStorageError.io(path: path, operation: "fsync directory", errno: errno) }
    }
}

/// Checkpoints in memory (Flink's JobManager storage): survive restarts inside the process only.
/// The default when no checkpoint directory is configured.
/// State files (on-disk backend) go to a private temporary folder, one sub-folder per checkpoint,
/// removed with the checkpoint; every checkpoint is self-contained (no shared files).
public final class InMemoryCheckpointStorage: CheckpointStorage {
    private struct Stored {
        var blobs: [String: [UInt8]] = [:]
        var metadata: CheckpointMetadata?
    }
    private let checkpoints = Mutex<[Int64: Stored]>([:])
    private let filesDirectory = "\(NSTemporaryDirectory())/sluice-memory-checkpoints-\(UUID().uuidString)"

    public init() {}

    deinit { try? FileManager.default.removeItem(atPath: filesDirectory) }

    private func filesFolder(_ id: Int64) -> String { "\(filesDirectory)/chk-\(id)" }

    private func removeFiles(_ id: Int64) { try? FileManager.default.removeItem(atPath: filesFolder(id)) }

    public func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
        let dir = filesFolder(checkpointId)
        try FileSystemCheckpointStorage.makeDirectory(dir)
        let safe = FileSystemCheckpointStorage.sanitizeFileName(name)
        let (length, checksum) = try StateFiles.copyDurably(from: localPath, to: "\(dir)/\(safe)")
        return StateFileHandle(name: safe, scope: .exclusive, length: length, checksum: checksum)
    }

    public func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
        let path = "\(filesFolder(checkpointId))/\(file.name)"
        try StateFiles.verify(file, at: path, checkpointId: checkpointId)
        return path
    }

    public func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
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

    public func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] {
        guard let blob = checkpoints.withLock({ $0[checkpointId]?.blobs[handle.location] }) else {
            throw CheckpointStorageError.missingState(location: handle.location, checkpointId: checkpointId)
        }
        return blob
    }

    public func commit(_ metadata: CheckpointMetadata) throws {
        checkpoints.withLock { all in
            var stored = all[metadata.checkpointId] ?? Stored()
            stored.metadata = metadata
            all[metadata.checkpointId] = stored
        }
    }

    public func latestCompleted(logger: Logger) -> CheckpointMetadata? {
        checkpoints.withLock { all in
            for id in all.keys.sorted().reversed() {
                if let metadata = all[id]?.metadata { return metadata }
            }
            return nil
        }
    }

    public func discard(checkpointId: Int64) {
        _ = checkpoints.withLock { $0.removeValue(forKey: checkpointId) }
        removeFiles(checkpointId)
    }

    public func retainLatest(_ count: Int, logger: Logger) {
        let removed: [Int64] = checkpoints.withLock { all in
            let completed = all.keys.filter { all[$0]?.metadata != nil }.sorted()
            guard let oldestKept = completed.suffix(max(1, count)).first else { return [] }
            let old = all.keys.filter { $0 < oldestKept }
            for id in old { all.removeValue(forKey: id) }
            return old
        }
        for id in removed { removeFiles(id) }
    }

    public func removeNewer(than checkpointId: Int64?, logger: Logger) {
        let removed: [Int64] = checkpoints.withLock { all in
            let newer = all.keys.filter { $0 > (checkpointId ?? 0) }
            for id in newer { all.removeValue(forKey: id) }
            return newer
        }
        for id in removed { removeFiles(id) }
    }
}
