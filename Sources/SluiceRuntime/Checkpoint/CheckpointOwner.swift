import Foundation

/// Which of a job's worker processes wrote a checkpoint: worker `index` of `workers`. Each worker
/// reads the source partitions p with p % workers == index, so the source offsets a worker's
/// checkpoint holds are those of its share under that count only.
public struct WorkerLayout: Sendable, Hashable, CustomStringConvertible {
    public let workers: Int
    public let index: Int

    /// One process doing all the work; also what a snapshot written before layouts were recorded means.
    public static let single = WorkerLayout(uncheckedWorkers: 1, index: 0)

    /// nil when `index` is not in 0..<workers.
    public init?(workers: Int, index: Int) {
        guard workers >= 1, (0..<workers).contains(index) else { return nil }
        self.init(uncheckedWorkers: workers, index: index)
    }

    private init(uncheckedWorkers workers: Int, index: Int) {
        self.workers = workers
        self.index = index
    }

    public var description: String { "worker \(index) of \(workers)" }
}

/// Who wrote a checkpoint or savepoint: the job's id (kept across restores, new on a fresh start),
/// the transactional-id prefix its exactly-once sinks used and the worker layout. A restored job
/// must keep the prefix (the checkpoint's transactions, and those a crashed run left open, are
/// found by it) and the layout (the checkpoint holds the offsets of its worker's partitions only).
package struct CheckpointOwner: Sendable, Equatable {
    package let jobId: String
    package let transactionalIdPrefix: String?
    package let workers: WorkerLayout

    package init(jobId: String, transactionalIdPrefix: String?, workers: WorkerLayout = .single) {
        self.jobId = jobId
        self.transactionalIdPrefix = transactionalIdPrefix
        self.workers = workers
    }

    /// The owner of the checkpoints a run writes: the restored snapshot's job id (or `freshJobId`
    /// when there is none, or it predates owners), this job's prefix and worker layout. Throws when
    /// the snapshot was written under another prefix and the configuration does not allow the
    /// change, or by another worker layout. `location` names the snapshot in the error.
    package static func continuing(
        _ restored: CheckpointMetadata?, location: String? = nil, configuration: RuntimeConfiguration, freshJobId: String
    ) throws(CheckpointOwnershipError) -> CheckpointOwner {
        let current = configuration.transactionalIdPrefix
        let snapshot = restored.map { "\($0.kind) \($0.checkpointId)" + (location.map { " (\($0))" } ?? "") } ?? ""
        if let restored, let recorded = restored.owner?.transactionalIdPrefix, let current, recorded != current,
           !configuration.allowTransactionalIdPrefixChange {
            throw .transactionalIdPrefixChanged(
                snapshot: snapshot, jobId: restored.owner?.jobId ?? "unknown", recorded: recorded, current: current)
        }
        if let restored {
            // A snapshot without an owner predates layouts: one process wrote it.
            let recorded = restored.owner?.workers ?? .single
            if recorded != configuration.workerLayout {
                throw .workerLayoutChanged(snapshot: snapshot, recorded: recorded, current: configuration.workerLayout)
            }
        }
        return CheckpointOwner(
            jobId: restored?.owner?.jobId ?? freshJobId, transactionalIdPrefix: current, workers: configuration.workerLayout)
    }
}

/// A snapshot this job must not restore as it is configured.
public enum CheckpointOwnershipError: Error, CustomStringConvertible, Equatable {
    case transactionalIdPrefixChanged(snapshot: String, jobId: String, recorded: String, current: String)
    /// The snapshot was written by another worker, or under another number of workers.
    case workerLayoutChanged(snapshot: String, recorded: WorkerLayout, current: WorkerLayout)
    /// This worker has no checkpoint of its own, and another worker's folder holds checkpoints
    /// written under another number of workers: a fresh start would read their partitions again.
    case workerCountChangedBeside(snapshot: String, recorded: WorkerLayout, current: WorkerLayout)

    public var description: String {
        switch self {
        case .transactionalIdPrefixChanged(let snapshot, let jobId, let recorded, let current):
            return "Refusing to restore \(snapshot): it was written under the transactional-id prefix '\(recorded)' (job \(jobId)), "
                + "and this job's prefix is '\(current)'. Its transactions, and any a crashed run left open, are found by their "
                + "prefix: under '\(current)' they would never be committed or aborted. Start with --transactional-id-prefix "
                + "\(recorded), or pass --allow-transactional-id-prefix-change to restore under '\(current)' anyway."
        case .workerLayoutChanged(let snapshot, let recorded, let current) where recorded.workers != current.workers:
            return "Refusing to restore \(snapshot): it was taken by \(recorded); this process is \(current). "
                + Self.rescaleNeeded(recorded: recorded, current: current)
        case .workerLayoutChanged(let snapshot, let recorded, let current):
            return "Refusing to restore \(snapshot): it was taken by \(recorded); this process is \(current). "
                + "A worker restores only its own checkpoints: they hold the offsets of its own partitions. "
                + "Give this process --worker-index \(recorded.index), or its own checkpoint directory or savepoint."
        case .workerCountChangedBeside(let snapshot, let recorded, let current):
            return "Refusing to start afresh: this worker has no checkpoint of its own, but \(snapshot) beside it was taken by "
                + "\(recorded); this process is \(current). " + Self.rescaleNeeded(recorded: recorded, current: current)
        }
    }

    private static func rescaleNeeded(recorded: WorkerLayout, current: WorkerLayout) -> String {
        "Changing the number of workers needs a rescale: each worker reads the partitions p with p % workers == index, "
            + "so under \(current.workers) workers a worker would own partitions whose offsets are in other workers' "
            + "checkpoints (read again from the initial position: duplicates) and leave partitions it read to another "
            + "worker that has no offsets for them. Start every worker with --workers \(recorded.workers) as before, or, for a "
            + "job without keyed state, stop every worker and start all \(current.workers) with --workers \(current.workers) "
            + "--rescale-from-workers \(recorded.workers): each then takes the offsets of its partitions from the earlier "
            + "workers' newest checkpoints."
    }
}
