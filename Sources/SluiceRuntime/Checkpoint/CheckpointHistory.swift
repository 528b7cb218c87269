import Synchronization

/// One completed checkpoint or savepoint, as a job's history shows it.
public struct CompletedSnapshotSummary: Codable, Sendable, Equatable {
    public var id: Int64
    public var isSavepoint: Bool
    /// From trigger to metadata written.
    public var durationMillis: Int64
    /// Bytes the snapshot needs, shared state files included.
    public var totalBytes: Int64
    /// Bytes written for this snapshot; less than `totalBytes` when it reused older shared files.
    public var writtenBytes: Int64
    /// Wall-clock epoch milliseconds when it completed.
    public var completedAtMillis: Int64
    /// Reused state files of earlier checkpoints (the disk backend's incremental checkpoints).
    public var isIncremental: Bool
    /// A savepoint's folder; nil for checkpoints.
    public var path: String?

    init(id: Int64, isSavepoint: Bool, durationMillis: Int64, totalBytes: Int64, writtenBytes: Int64, completedAtMillis: Int64, path: String?) {
        self.id = id
        self.isSavepoint = isSavepoint
        self.durationMillis = durationMillis
        self.totalBytes = totalBytes
        self.writtenBytes = writtenBytes
        self.completedAtMillis = completedAtMillis
        self.isIncremental = writtenBytes < totalBytes
        self.path = path
    }
}

/// The latest completed checkpoints and savepoints of a job (in this process, every attempt),
/// oldest first, bounded so a long-running job does not grow it without end.
public final class CheckpointHistory: Sendable {
    public static let capacity = 200
    private let entries = Mutex<[CompletedSnapshotSummary]>([])

    public init() {}

    public var completed: [CompletedSnapshotSummary] { entries.withLock { $0 } }

    func record(_ summary: CompletedSnapshotSummary) {
        entries.withLock {
            $0.append(summary)
            if $0.count > Self.capacity { $0.removeFirst($0.count - Self.capacity) }
        }
    }
}
