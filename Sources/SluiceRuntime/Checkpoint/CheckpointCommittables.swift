import Foundation

/// The committables a snapshot's two-phase-commit sinks hold (their pending transactions), read
/// without running the job: for tools and fault-injection tests that act on a checkpoint's
/// transactions while the job is down.
package enum CheckpointCommittables {
    /// One committable of one sink subtask.
    package struct Entry<Committable: Decodable> {
        package let operatorID: String
        package let subtaskIndex: Int
        /// The checkpoint the transaction belongs to (at most the snapshot's own id).
        package let checkpointId: Int64
        package let committable: Committable
    }

    private struct Stored<C: Decodable>: Decodable {
        let checkpointId: Int64
        let committable: C
    }

    /// Every pending committable of the snapshot at `path` (its folder or `_metadata`), decoded as
    /// `Committable`, per sink operator subtask.
    package static func read<Committable: Decodable>(
        snapshotAt path: String, as type: Committable.Type = Committable.self
    ) throws -> (checkpointId: Int64, entries: [Entry<Committable>]) {
        let (metadata, storage) = try FileSystemCheckpointStorage.openSnapshot(at: path)
        var entries: [Entry<Committable>] = []
        let name = TwoPhaseCommitSinkOperatorStateName.value
        for op in metadata.operators {
            for subtask in op.subtasks {
                guard let handle = subtask.operatorState else { continue }
                let blob = try storage.read(handle, checkpointId: metadata.checkpointId)
                for state in try OperatorStateStore.parse(blob) where state.name == name {
                    for entry in state.entries {
                        var reader = BinaryReader(entry)
                        let stored = try JSONDecoder().decode(Stored<Committable>.self, from: Data(try reader.readBytes()))
                        entries.append(Entry(operatorID: op.operatorID, subtaskIndex: subtask.subtaskIndex,
                                             checkpointId: stored.checkpointId, committable: stored.committable))
                    }
                }
            }
        }
        return (metadata.checkpointId, entries)
    }
}

/// The list-state name under which the two-phase-commit sink operator keeps its committables.
enum TwoPhaseCommitSinkOperatorStateName {
    static let value = "pending-committables"
}
