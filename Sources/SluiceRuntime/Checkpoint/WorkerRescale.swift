import Foundation
import Logging

/// Restoring worker i of M from the checkpoints of the N workers that ran before (a job run as
/// worker processes, rescaled from N to M). Each earlier worker's newest snapshot is taken whole,
/// and the runtime restores them as one checkpoint of all their subtasks: union operator state
/// (a Kafka source's split offsets, a two-phase-commit sink's committables) reaches every subtask,
/// so the source keeps the offsets of the partitions this worker owns now, and the sink commits
/// every transaction the earlier workers' checkpoints promised before it initialises any id.
/// Keyed state moves by key groups (each worker of a job with keyed exchanges holds a key-group
/// range); state files (the disk backend's) are refused.
public struct WorkerRescale: Sendable, Hashable {
    /// The earlier workers' checkpoint folders: worker j of N wrote `folders[j]`.
    public var folders: [String]

    public init(folders: [String]) { self.folders = folders }

    public var workers: Int { folders.count }
}

/// Why the earlier workers' snapshots cannot be restored together.
public enum WorkerRescaleError: Error, CustomStringConvertible, Equatable {
    case noSnapshot(worker: Int, workers: Int, folder: String)
    case keyedState(operator: String, folder: String)
    case maxParallelismDiffers(operator: String)
    case inFlightRecords(operator: String, folder: String)

    public var description: String {
        switch self {
        case .noSnapshot(let worker, let workers, let folder):
            return "Cannot rescale from \(workers) workers: \(folder) holds no completed checkpoint or savepoint taken by worker \(worker) "
                + "of \(workers). Give --rescale-from-workers the number of workers that ran last, and start the rescaled workers "
                + "together (a worker's checkpoints of the old layout are deleted by retention once it has run a while)."
        case .keyedState(let op, let folder):
            return "Cannot rescale workers: operator '\(op)' has state files (the disk state backend's incremental checkpoints) in the "
                + "checkpoint in \(folder), which cannot be merged across workers. Stop every worker with a savepoint under "
                + "--state-backend heap, or start every worker with the old --workers."
        case .maxParallelismDiffers(let op):
            return "Cannot rescale workers: the workers' checkpoints of operator '\(op)' differ in maxParallelism."
        case .inFlightRecords(let op, let folder):
            return "Cannot rescale workers from the unaligned checkpoint in \(folder): it holds records in flight into operator '\(op)', "
                + "which belong to the old layout. Stop the workers with a savepoint (savepoints are always aligned) and rescale from it."
        }
    }
}

package enum WorkerRescaleRestore {
    /// The newest snapshot worker `index` of `rescale.workers` left in its folder: its newest
    /// completed checkpoint of that layout, or the savepoint it stopped with when that is newer.
    static func snapshot(of index: Int, _ rescale: WorkerRescale, logger: Logger) throws -> RestorableSnapshot {
        let folder = rescale.folders[index]
        let layout = WorkerLayout(workers: rescale.workers, index: index)
        let storage = FileSystemCheckpointStorage(directory: folder)
        var best: RestorableSnapshot?
        for id in storage.checkpointIDs().reversed() {
            guard let metadata = try? storage.loadMetadata(id, logger: logger) else { continue }
            guard (metadata.owner?.workers ?? .single) == layout else { continue }
            best = RestorableSnapshot(path: storage.folder(id), metadata: metadata, storage: storage)
            break
        }
        if let stopped = try storage.stopSavepointToResume(logger: logger), (stopped.metadata.owner?.workers ?? .single) == layout,
           stopped.metadata.checkpointId > (best?.metadata.checkpointId ?? Int64.min) {
            best = stopped
        }
        guard let best else { throw WorkerRescaleError.noSnapshot(worker: index, workers: rescale.workers, folder: folder) }
        return best
    }

    /// The id of the newest snapshot any earlier worker left (nil: none left).
    static func newestSnapshotId(_ rescale: WorkerRescale, logger: Logger) -> Int64? {
        rescale.folders.indices.compactMap { try? snapshot(of: $0, rescale, logger: logger).metadata.checkpointId }.max()
    }

    /// The earlier workers' newest snapshots as one restore, owned by `current`.
    static func merged(
        _ rescale: WorkerRescale, current: WorkerLayout, transactionalIdPrefix: String?, logger: Logger
    ) throws -> RestoreSource {
        let snapshots = try rescale.folders.indices.map { try snapshot(of: $0, rescale, logger: logger) }
        var operators: [String: OperatorCheckpointState] = [:]
        var order: [String] = []
        for (worker, snapshot) in snapshots.enumerated() {
            for op in snapshot.metadata.operators {
                // Keyed state moves by key groups: each handle keeps its range, and every new subtask
                // takes the key groups of its own range from the handles that overlap it. State files
                // (the disk backend's incremental checkpoints) are not merged across snapshots.
                if op.subtasks.contains(where: { !$0.stateFiles.isEmpty }) {
                    throw WorkerRescaleError.keyedState(operator: op.operatorID, folder: rescale.folders[worker])
                }
                if op.subtasks.contains(where: { $0.inputChannelState != nil }) {
                    throw WorkerRescaleError.inFlightRecords(operator: op.operatorID, folder: rescale.folders[worker])
                }
                var merged = operators[op.operatorID]
                    ?? OperatorCheckpointState(operatorID: op.operatorID, parallelism: 0, maxParallelism: op.maxParallelism, subtasks: [])
                if merged.parallelism == 0 { order.append(op.operatorID) }
                guard merged.maxParallelism == op.maxParallelism else { throw WorkerRescaleError.maxParallelismDiffers(operator: op.operatorID) }
                let offset = merged.parallelism
                for subtask in op.subtasks where subtask.subtaskIndex < op.parallelism {
                    merged.subtasks.append(OperatorSubtaskStateHandle(
                        subtaskIndex: offset + subtask.subtaskIndex,
                        operatorState: subtask.operatorState.map {
                            StateHandle(location: "\(worker)/\($0.location)", offset: $0.offset, length: $0.length, checksum: $0.checksum)
                        },
                        keyedState: subtask.keyedState.map {
                            StateHandle(location: "\(worker)/\($0.location)", offset: $0.offset, length: $0.length, checksum: $0.checksum)
                        },
                        keyGroupRange: subtask.keyGroupRange, stateFiles: []))
                }
                merged = OperatorCheckpointState(
                    operatorID: merged.operatorID, parallelism: offset + op.parallelism, maxParallelism: merged.maxParallelism,
                    subtasks: merged.subtasks)
                operators[op.operatorID] = merged
            }
        }
        let newest = snapshots.map(\.metadata.checkpointId).max() ?? 0
        let metadata = CheckpointMetadata(
            checkpointId: newest, timestamp: snapshots.map(\.metadata.timestamp).max() ?? 0, isFinal: false, kind: .checkpoint,
            operators: order.compactMap { operators[$0] },
            owner: CheckpointOwner(
                jobId: snapshots.first?.metadata.owner?.jobId ?? UUID().uuidString.lowercased(), transactionalIdPrefix: transactionalIdPrefix,
                workers: current))
        for (worker, snapshot) in snapshots.enumerated() {
            logger.notice("Rescaling from \(rescale.workers) workers: restoring \(snapshot.metadata.kind) \(snapshot.metadata.checkpointId) of worker \(worker) (\(snapshot.path)).")
        }
        return RestoreSource(
            metadata: metadata,
            storage: MergedSnapshotStorage(parts: snapshots.map { ($0.storage, $0.metadata.checkpointId) }),
            location: "the newest snapshots of \(rescale.workers) workers in \(rescale.folders.joined(separator: ", "))",
            isWorkerRescale: true)
    }
}

/// Reads the state of several snapshots restored as one: a handle's location starts with the
/// index of its snapshot. Writes nothing (checkpoints of the rescaled job go to its own storage).
final class MergedSnapshotStorage: CheckpointStorage {
    let parts: [(storage: any CheckpointStorage, checkpointId: Int64)]

    init(parts: [(storage: any CheckpointStorage, checkpointId: Int64)]) { self.parts = parts }

    func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] {
        guard let slash = handle.location.firstIndex(of: "/"), let index = Int(handle.location[..<slash]), parts.indices.contains(index) else {
            throw CheckpointStorageError.missingState(location: handle.location, checkpointId: checkpointId)
        }
        let part = parts[index]
        let original = StateHandle(
            location: String(handle.location[handle.location.index(after: slash)...]), offset: handle.offset, length: handle.length,
            checksum: handle.checksum)
        return try part.storage.read(original, checkpointId: part.checkpointId)
    }

    func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
        throw CheckpointStorageError.stateFilesUnsupported(storage: "the earlier workers' snapshots (read only)")
    }
    func commit(_ metadata: CheckpointMetadata) throws {
        throw CheckpointStorageError.stateFilesUnsupported(storage: "the earlier workers' snapshots (read only)")
    }
    func latestCompleted(logger: Logger) -> CheckpointMetadata? { nil }
    func discard(checkpointId: Int64) {}
    func retainLatest(_ count: Int, logger: Logger) {}
    func removeNewer(than checkpointId: Int64?, logger: Logger) {}
}
