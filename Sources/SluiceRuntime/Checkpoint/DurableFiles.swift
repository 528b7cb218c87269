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
