import Foundation
import Logging
import Metrics

/// What an operator subtask snapshots: its operator list states and, for keyed operators, its
/// keyed state blob (per key group) with the key-group range it covers.
struct OperatorSnapshot {
    var operatorState: [UInt8]
    var keyedState: [UInt8]
    var keyGroupRange: KeyGroupRange?
    /// Files the keyed state references (on-disk backend).
    var stateFiles: [StateFileHandle] = []
}

/// The restored state of one operator subtask, already redistributed for its new index.
struct OperatorRestore {
    let checkpointId: Int64
    let previousParallelism: Int
    let operatorLists: [String: (OperatorStateDistribution, [[UInt8]])]
    /// Keyed blobs of the old subtasks whose key groups overlap this subtask's range.
    let keyedBlobs: [[UInt8]]
    /// Where the snapshot's state files are read from (on-disk backend).
    var storage: (any CheckpointStorage)? = nil
}

/// Everything the runtime hands one operator subtask.
final class OperatorSetup {
    let operatorID: String
    let subtaskIndex: Int
    let parallelism: Int
    let maxParallelism: Int
    /// The key groups this process holds (nil: all).
    let keyGroupScope: KeyGroupRange?
    let logger: Logger
    let metrics: RuntimeMetrics
    let restore: OperatorRestore?
    let clock: any RuntimeClock
    let faultInjector: FaultInjector
    let services: TaskServices
    /// The side outputs of this operator that have consumers.
    let sideOutputs: SideOutputs

    init(
        operatorID: String, subtaskIndex: Int, parallelism: Int, maxParallelism: Int, keyGroupScope: KeyGroupRange? = nil, logger: Logger,
        metrics: RuntimeMetrics, restore: OperatorRestore?, clock: any RuntimeClock,
        faultInjector: FaultInjector, services: TaskServices, sideOutputs: SideOutputs = SideOutputs()
    ) {
        self.sideOutputs = sideOutputs
        self.operatorID = operatorID
        self.subtaskIndex = subtaskIndex
        self.parallelism = parallelism
        self.maxParallelism = maxParallelism
        self.keyGroupScope = keyGroupScope
        var logger = logger
        logger[metadataKey: "operator"] = "\(operatorID)"
        logger[metadataKey: "subtask"] = "\(subtaskIndex)"
        self.logger = logger
        self.metrics = metrics
        self.restore = restore
        self.clock = clock
        self.faultInjector = faultInjector
        self.services = services
    }

    var keyGroupRange: KeyGroupRange {
        KeyGroups.range(forSubtask: subtaskIndex, parallelism: parallelism, maxParallelism: maxParallelism, scope: keyGroupScope)
    }
}

/// Runtime services a task offers its operators (checkpoint requests, job identity).
struct TaskServices: Sendable {
    let requestCheckpoint: @Sendable () -> Void
    /// The id the next checkpoint will have when this attempt started (restored id + 1, or 1).
    let firstCheckpointId: Int64
    /// Where keyed state lives.
    var stateBackend: StateBackendChoice = .heap
    /// The job's checkpoint interval (nil: periodic checkpoints off).
    var checkpointInterval: Duration? = nil
    /// The storage of the checkpoint being taken, set by the task before it snapshots its operators.
    var snapshotStorage = SnapshotStorageSlot()
    /// The restored checkpoint whose lost transactions this attempt accepts (`LostTransactionsPolicy.continue`).
    var acceptLostTransactionsOf: Int64? = nil
}

/// The storage of the snapshot in progress (a checkpoint's or a savepoint's folder).
final class SnapshotStorageSlot: @unchecked Sendable {
    // @unchecked: set and read only on the owning task's thread (before and during its snapshot).
    var storage: (any CheckpointStorage)?
}

/// Marks an error that must fail the task even when raised while snapshotting (rather than only
/// declining the checkpoint): e.g. a sink whose pre-commit failed has an unknown transaction.
struct TaskFailure: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "\(underlying)" }
}

/// Lifecycle every operator of a chain shares; called only on its task's thread.
class StreamOperatorBase {
    let setup: OperatorSetup
    let operatorStateStore: OperatorStateStore
    /// True for operators whose notifications must be delivered one subtask at a time
    /// (two-phase-commit sinks), so a crash between subtask commits is meaningful.
    var commitsOnCheckpointComplete: Bool { false }

    init(setup: OperatorSetup) {
        self.setup = setup
        self.operatorStateStore = OperatorStateStore(restored: setup.restore?.operatorLists ?? [:])
    }

    func open() throws {}
    /// End of input: flush what is buffered (emit through the output).
    func finish() throws {}
    /// Called on every operator of the chain, head first, before the barrier is forwarded: what an
    /// operator emits here belongs to the checkpoint (Flink's prepareSnapshotPreBarrier).
    func prepareSnapshotPreBarrier(checkpointId: Int64) throws {}
    func snapshotState(checkpointId: Int64) throws -> OperatorSnapshot {
        OperatorSnapshot(operatorState: try operatorStateStore.snapshot(), keyedState: [], keyGroupRange: nil)
    }
    func notifyCheckpointComplete(_ checkpointId: Int64) throws {}
    func notifyCheckpointAborted(_ checkpointId: Int64) throws {}
    /// Releases resources; `failed` when the job is failing or cancelled (abort, don't commit).
    func close(failed: Bool) {}
    /// The earliest pending processing-time timer, if any.
    var nextProcessingTimer: Int64? { nil }
    func fireProcessingTimers(now: Int64) throws {}
    /// Published by the task with its other counters.
    func publishMetrics() {}
}

/// An operator with one input of type `In` that emits `Out`.
class OneInputOperator<In: Sendable, Out: Sendable>: StreamOperatorBase, ElementInput {
    typealias Input = In
    let output: Output<Out>

    init(setup: OperatorSetup, output: Output<Out>) {
        self.output = output
        super.init(setup: setup)
    }

    func processElement(_ value: In, timestamp: Int64?) throws {}
    func processWatermark(_ watermark: Int64) throws { try output.emitWatermark(watermark) }
    func processIdleStatus(_ idle: Bool) throws { try output.emitIdleStatus(idle) }
}

/// Collects the outputs of a user function; records keep the timestamp of the input (or timer).
public final class Collector<T: Sendable> {
    let output: Output<T>
    var timestamp: Int64?

    init(output: Output<T>) {
        self.output = output
    }

    public func collect(_ value: T) throws { try output.collect(value, timestamp: timestamp) }
    public func collect(_ value: T, timestamp: Int64?) throws { try output.collect(value, timestamp: timestamp) }
}

final class MapOperator<In: Sendable, Out: Sendable>: OneInputOperator<In, Out> {
    let function: @Sendable (In) throws -> Out
    init(setup: OperatorSetup, output: Output<Out>, function: @escaping @Sendable (In) throws -> Out) {
        self.function = function
        super.init(setup: setup, output: output)
    }
    override func processElement(_ value: In, timestamp: Int64?) throws {
        try output.collect(try function(value), timestamp: timestamp)
    }
}

final class FilterOperator<T: Sendable>: OneInputOperator<T, T> {
    let predicate: @Sendable (T) throws -> Bool
    init(setup: OperatorSetup, output: Output<T>, predicate: @escaping @Sendable (T) throws -> Bool) {
        self.predicate = predicate
        super.init(setup: setup, output: output)
    }
    override func processElement(_ value: T, timestamp: Int64?) throws {
        if try predicate(value) { try output.collect(value, timestamp: timestamp) }
    }
}

final class FlatMapOperator<In: Sendable, Out: Sendable>: OneInputOperator<In, Out> {
    let function: @Sendable (In, Collector<Out>) throws -> Void
    let collector: Collector<Out>
    init(setup: OperatorSetup, output: Output<Out>, function: @escaping @Sendable (In, Collector<Out>) throws -> Void) {
        self.function = function
        self.collector = Collector(output: output)
        super.init(setup: setup, output: output)
    }
    override func processElement(_ value: In, timestamp: Int64?) throws {
        collector.timestamp = timestamp
        try function(value, collector)
    }
}
