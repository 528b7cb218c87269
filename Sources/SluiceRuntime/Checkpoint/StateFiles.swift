import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State files: whole files a checkpoint references (the on-disk backend's database copies and
/// change logs), written from a local file and read back as a verified local path.
package protocol StateFileStorage {
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
    package var sharedStateNamespace: String? { nil }
    package func putStateFile(checkpointId: Int64, localPath: String, name: String, scope: StateFileScope) throws -> StateFileHandle {
        throw CheckpointStorageError.stateFilesUnsupported(storage: "\(type(of: self))")
    }
    package func stateFilePath(_ file: StateFileHandle, checkpointId: Int64) throws -> String {
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
