import Foundation

/// Where keyed state lives, chosen by `RuntimeConfiguration.stateBackend`.
public enum StateBackendChoice: Sendable, Equatable {
    /// In memory (the default): per state and key group one dictionary; full snapshots.
    case heap
    /// In an SQLite database per operator subtask under a local directory: state larger than memory,
    /// incremental checkpoints.
    case disk(DiskStateBackendOptions)

    /// The on-disk backend with default options, its working files under `directory`.
    public static func disk(directory: String) -> StateBackendChoice { .disk(DiskStateBackendOptions(directory: directory)) }

    func validate() throws {
        guard case .disk(let options) = self else { return }
        guard !options.directory.isEmpty, options.cacheBytes > 0, options.maxTrackedChanges > 0,
              options.maxChangeLogRatio > 0, options.maxChangeLogRatio.isFinite else {
            throw RuntimeConfigurationError.invalid(
                "The on-disk state backend needs a directory, cacheBytes > 0, maxTrackedChanges > 0 and a positive maxChangeLogRatio "
                    + "(got '\(options.directory)', \(options.cacheBytes), \(options.maxTrackedChanges), \(options.maxChangeLogRatio)).")
        }
    }
}

/// Settings of the on-disk keyed state backend.
public struct DiskStateBackendOptions: Sendable, Equatable {
    /// Local scratch directory for the working databases (one sub-folder per operator subtask,
    /// removed when the subtask ends). Not durable: checkpoints are.
    public var directory: String
    /// Memory the database's page cache may use per operator subtask.
    public var cacheBytes: Int
    /// The most changed keys tracked between two checkpoints; beyond it the next checkpoint is a
    /// full copy instead of a change log (bounds the memory the tracking uses).
    public var maxTrackedChanges: Int
    /// A full copy replaces the chain of change logs once their bytes exceed this fraction of the
    /// full copy's (bounds restore time and the files a checkpoint references).
    public var maxChangeLogRatio: Double

    public init(directory: String, cacheBytes: Int = 64 << 20, maxTrackedChanges: Int = 250_000, maxChangeLogRatio: Double = 0.5) {
        self.directory = directory
        self.cacheBytes = cacheBytes
        self.maxTrackedChanges = maxTrackedChanges
        self.maxChangeLogRatio = maxChangeLogRatio
    }
}

/// What a keyed backend wrote for one checkpoint: its keyed blob and the files the blob references.
struct KeyedStateSnapshot {
    var blob: [UInt8]
    var files: [StateFileHandle]
}

/// The keyed state of one operator subtask: value/list/map states and timer tables, scoped to the
/// current key, snapshotted per key group so that a restore can split them on rescale.
/// Used on the subtask's thread only.
protocol KeyedStateBackend<Key>: AnyObject {
    associatedtype Key: Hashable & Sendable
    var keyGroupRange: KeyGroupRange { get }
    var keySerializer: AnyStateSerializer<Key> { get }
    var context: KeyContext<Key> { get }
    func setCurrentKey(_ key: Key, keyGroup: Int)
    func valueState<V>(_ descriptor: ValueStateDescriptor<V>) throws -> ValueState<V>
    func listState<V>(_ descriptor: ListStateDescriptor<V>) throws -> ListState<V>
    func mapState<MK: Hashable, MV>(_ descriptor: MapStateDescriptor<MK, MV>) throws -> MapState<MK, MV>
    /// Timer sets and other heap tables (kept in memory by every backend, but checkpointed).
    func registerTable<T: KeyGroupPartitionedTable>(_ name: String, kind: KeyedStateKind, make: () -> T) throws -> T
    /// Writes a snapshot; state files go into `storage` (the checkpoint's or savepoint's), which
    /// the heap backend does not need.
    func snapshot(checkpointId: Int64, storage: (any CheckpointStorage)?) throws -> KeyedStateSnapshot
    /// State accessors cannot throw: a failure they hit (e.g. a disk error) is kept and thrown here,
    /// which the operator calls after each element and timer.
    func throwIfFailed() throws
}

extension HeapKeyedStateBackend: KeyedStateBackend {
    func snapshot(checkpointId: Int64, storage: (any CheckpointStorage)?) throws -> KeyedStateSnapshot {
        KeyedStateSnapshot(blob: try snapshot(), files: [])
    }

    func throwIfFailed() throws {}
}

/// What a keyed operator needs to build its backend.
struct KeyedStateRestore {
    let checkpointId: Int64
    let blobs: [[UInt8]]
    let storage: (any CheckpointStorage)?
}

enum KeyedStateBackends {
    /// Builds the configured backend for an operator subtask and restores it.
    static func make<Key: StateKey>(
        choice: StateBackendChoice, operatorID: String, subtaskIndex: Int, keyGroupRange: KeyGroupRange,
        maxParallelism: Int, keySerializer: AnyStateSerializer<Key>, restore: KeyedStateRestore?
    ) throws -> any KeyedStateBackend<Key> {
        switch choice {
        case .heap:
            let backend = HeapKeyedStateBackend(keyGroupRange: keyGroupRange, maxParallelism: maxParallelism, keySerializer: keySerializer)
            if let restore {
                guard !restore.blobs.contains(where: DiskKeyedStateBackend<Key>.isDiskBlob) else {
                    throw StateError.corruptSnapshot(
                        "operator '\(operatorID)' has state written by the on-disk backend: run it with stateBackend .disk, "
                            + "or take the state over in a job that does")
                }
                try backend.restore(from: restore.blobs)
            }
            return backend
        case .disk(let options):
            return try DiskKeyedStateBackend(
                options: options, operatorID: operatorID, subtaskIndex: subtaskIndex, keyGroupRange: keyGroupRange,
                maxParallelism: maxParallelism, keySerializer: keySerializer, restore: restore)
        }
    }
}
