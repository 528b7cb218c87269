import Foundation

/// Why a savepoint was not taken; the job keeps running unless it had already ended.
public enum SavepointError: Error, CustomStringConvertible, Equatable {
    /// No attempt of the job is running (not started, restarting, or ended).
    case jobNotRunning
    /// The savepoint was declined or timed out; the job continues.
    case aborted(checkpointId: Int64, reason: String)
    /// The job ended (finished, failed or was cancelled) before the savepoint completed.
    case jobEnded

    public var description: String {
        switch self {
        case .jobNotRunning:
            return "The job is not running (not started yet, restarting, or ended): trigger the savepoint again once it runs."
        case .aborted(let id, let reason):
            return "Savepoint \(id) was aborted: \(reason). The job keeps running; trigger the savepoint again."
        case .jobEnded:
            return "The job ended before the savepoint completed; no savepoint was written."
        }
    }
}

/// A savepoint asked of the coordinator; the caller waits for its path.
final class SavepointRequest: @unchecked Sendable {
    // @unchecked: `result` is only touched while holding `condition`.
    let directory: String
    let stopsJob: Bool
    private let condition = NSCondition()
    private var result: Result<String, SavepointError>?

    init(directory: String, stopsJob: Bool) {
        self.directory = directory
        self.stopsJob = stopsJob
    }

    /// The first outcome wins; later ones are ignored.
    func finish(_ outcome: Result<String, SavepointError>) {
        condition.lock()
        if result == nil { result = outcome }
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the savepoint completed or failed.
    func wait() throws -> String {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        switch result {
        case .success(let path): return path
        case .failure(let error): throw error
        case nil: throw SavepointError.jobEnded
        }
    }

    /// A fresh folder `<directory>/savepoint-<id>-<wall-clock millis>` (suffixed if taken).
    static func folder(in directory: String, checkpointId: Int64) -> String {
        let base = "\(directory)/savepoint-\(checkpointId)-\(Int64(Date().timeIntervalSince1970 * 1000))"
        var path = base
        var n = 2
        while FileManager.default.fileExists(atPath: path) {
            path = "\(base)-\(n)"
            n += 1
        }
        return path
    }
}

extension CheckpointStorage {
    /// Where the state of `barrier` goes: a savepoint's own folder, or this storage.
    func destination(for barrier: CheckpointBarrier) -> any CheckpointStorage {
        guard let target = barrier.savepoint else { return self }
        return FileSystemCheckpointStorage(snapshotFolder: target.path)
    }
}
