import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive claim on a checkpoint directory for as long as a job uses it.
///
/// Two jobs on one directory would delete each other's checkpoints in retention and, with the same
/// transactional-id prefix, fence each other's producers in turn. The claim is an `flock` on
/// `<directory>/_lock`: the kernel releases it when the process ends, SIGKILL included, so a crashed
/// job never leaves a stale claim behind. The file names the holder (pid, host, start time) so that a
/// second job can say who is in the way.
public final class CheckpointDirectoryLock: Sendable {
    public static let fileName = "_lock"

    /// Who holds a directory, as written into its lock file.
    public struct Holder: Sendable, Codable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        public var startedAt: Date

        public var description: String {
            "pid \(pid) on \(host), started \(ISO8601DateFormatter().string(from: startedAt))"
        }
    }

    public let directory: String
    public let holder: Holder
    private let descriptor: Int32

    private init(directory: String, holder: Holder, descriptor: Int32) {
        self.directory = directory
        self.holder = holder
        self.descriptor = descriptor
    }

    /// Claims `directory` (created if missing) or throws `CheckpointDirectoryLockError.held` naming
    /// the job that has it. Never waits.
    public static func acquire(directory: String, now: Date = Date()) throws(CheckpointDirectoryLockError) -> CheckpointDirectoryLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .unusable(directory: directory, reason: "\(error)")
        }
        let path = directory + "/" + fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw .unusable(directory: directory, reason: String(cString: strerror(errno)))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let current = readHolder(fd)
            close(fd)
            if failure == EWOULDBLOCK {
                throw .held(directory: directory, by: current)
            }
            throw .unusable(directory: directory, reason: String(cString: strerror(failure)))
        }
        let holder = Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, startedAt: now)
        // The lock, not the text, is what excludes: a failed write only loses the holder's name.
        if let text = try? JSONEncoder().encode(holder) {
            _ = ftruncate(fd, 0)
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return CheckpointDirectoryLock(directory: directory, holder: holder, descriptor: fd)
    }

    /// Gives the directory up. Also happens when the process ends, however it ends.
    public func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    private static func readHolder(_ fd: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: Data(buffer[0..<count]))
    }
}

public enum CheckpointDirectoryLockError: Error, CustomStringConvertible, Equatable {
    /// Another job uses the directory.
    case held(directory: String, by: CheckpointDirectoryLock.Holder?)
    /// The directory or its lock file cannot be opened.
    case unusable(directory: String, reason: String)

    public var description: String {
        switch self {
        case .held(let directory, let holder):
            let who = holder.map { "another job (\($0))" } ?? "another job"
            return "The checkpoint directory \(directory) is in use by \(who). Two jobs must not share a checkpoint "
                + "directory: stop the other job, or give this one a directory of its own."
        case .unusable(let directory, let reason):
            return "The checkpoint directory \(directory) cannot be claimed (\(reason)). Check that it exists "
                + "and is writable by this user."
        }
    }
}
