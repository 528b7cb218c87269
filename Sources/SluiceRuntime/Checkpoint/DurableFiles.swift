import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing files durably (fsync of the file, then of its directory) and naming them safely.
extension FileSystemCheckpointStorage {
    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// Like `sanitize`, keeping dots after the first character (file extensions of state files).
    static func sanitizeFileName(_ name: String) -> String {
        String(name.enumerated().map { i, c in c.isLetter || c.isNumber || c == "-" || c == "_" || (c == "." && i > 0) ? c : "_" })
    }

    /// Creates `path` and missing parents with mkdir(2), so a failure reports the system's own
    /// error (read-only file system, no space, a file in the way) and the path it happened at.
    static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, parent != "/" { try makeDirectory(parent) }
        guard mkdir(path, 0o755) == 0 else {
            let code = errno
            if code == EEXIST, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
            throw CheckpointStorageError.io(path: path, operation: "create directory", errno: code == EEXIST ? ENOTDIR : code)
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
