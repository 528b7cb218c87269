import Foundation
import Logging
import Metrics
import Synchronization

/// Identifies a task subtask within one attempt: its chain and subtask index.
struct TaskKey: Hashable, Sendable, CustomStringConvertible {
    let chain: Int
    let subtask: Int
    var description: String { "chain \(chain) subtask \(subtask)" }
}

/// Settings every task of an attempt shares.
struct TaskSettings: Sendable {
    let logger: Logger
    let metrics: RuntimeMetrics
    let clock: any RuntimeClock
    let faultInjector: FaultInjector
    let storage: any CheckpointStorage
    let batchSize: Int
    let bufferTimeoutMillis: Int64
    let sourceIdleWaitMillis: Int64
    let checkpointingMode: CheckpointingMode
    var stateBackend: StateBackendChoice = .heap
    /// The job's checkpoint interval (nil: periodic checkpoints off), for sinks to check against.
    var checkpointInterval: Duration? = nil
    /// The restored checkpoint whose lost transactions this attempt accepts.
    var acceptLostTransactionsOf: Int64? = nil
    /// Unaligned checkpoints (exactly-once only); nil: every checkpoint is aligned.
    var unaligned: UnalignedCheckpointPolicy? = nil
}

/// Where a task restores from.
struct RestoreSource: Sendable {
    let metadata: CheckpointMetadata
    let storage: any CheckpointStorage
    /// The snapshot's folder, for messages (nil: not in a file system).
    var location: String? = nil
    /// The earlier workers' snapshots restored together (`WorkerRescaleRestore`): no rewind to an
    /// older checkpoint of this worker's own storage (of another layout) is possible.
    var isWorkerRescale = false
}

/// Everything needed to run one task subtask on its thread.
struct TaskSpec: Sendable {
    let key: TaskKey
    let name: String
    /// The chain, head first.
    let vertices: [JobVertex]
    let subtaskIndex: Int
    let inbox: TaskInbox
    let gate: (any AnyInputGate)?
    let outgoing: [OutgoingEdge]
    /// Side-output edges of the chain's vertices: vertex id -> tag id -> edges.
    var sideOutgoing: [Int: [String: [OutgoingEdge]]] = [:]
    let restore: RestoreSource?
    let settings: TaskSettings
    let coordinator: CheckpointCoordinatorDriver
    let firstCheckpointId: Int64
}

/// One parallel subtask of a chain of operators, running on its own thread (Flink's StreamTask
/// with its mailbox): it alternates between mail (checkpoint triggers and notifications) and
/// input (records, watermarks, barriers), with synchronous operator code.
final class StreamTask: InputProcessorDelegate {
    let spec: TaskSpec
    private let logger: Logger
    private var operators: [StreamOperatorBase] = []
    private var inCounters: [RecordCounter] = []
    private let outCounter = RecordCounter()
    private var writer: (any ChannelWriter)?
    private var input: (any InputProcessing)?
    private var source: (any SourceDriving)?
    private var terminated = false
    private var finishedOperators = false
    /// Sources: the stop-with-savepoint this task took; it emits nothing more unless it is aborted.
    private var stoppingAt: Int64?
    private var lastFlush = DispatchTime.now().uptimeNanoseconds
    private var published: [(in: Int64, out: Int64)] = []
    private var metricCounters: [(in: Counter, out: Counter)] = []
    private var backpressure: Counter?
    private var snapshotStorage: SnapshotStorageSlot?
    /// An unaligned checkpoint whose operator state is written and whose channel state is still
    /// being collected: acknowledged by `completeUnalignedCheckpoint`.
    private var unalignedPending: (id: Int64, storage: any CheckpointStorage, states: [String: OperatorSubtaskStateHandle])?

    init(spec: TaskSpec) {
        self.spec = spec
        var logger = spec.settings.logger
        logger[metadataKey: "task"] = "\(spec.name)"
        self.logger = logger
    }

    // MARK: setup

    private func restoreState(for vertex: JobVertex) throws -> OperatorRestore? {
        guard let restore = spec.restore else { return nil }
        guard let state = restore.metadata.operatorState(vertex.name) else {
            logger.info("Operator '\(vertex.name)' has no state in checkpoint \(restore.metadata.checkpointId); it starts empty.")
            return OperatorRestore(
                checkpointId: restore.metadata.checkpointId, previousParallelism: vertex.parallelism,
                operatorLists: [:], keyedBlobs: [])
        }
        let id = restore.metadata.checkpointId
        guard state.maxParallelism == vertex.maxParallelism else {
            throw RuntimeConfigurationError.invalid(
                "Operator '\(vertex.name)' was checkpointed with maxParallelism \(state.maxParallelism) but runs with \(vertex.maxParallelism): "
                    + "keyed state is partitioned by maxParallelism, so it must stay the same for the life of the job's state.")
        }
        var operatorBlobs = Array(repeating: [UInt8](), count: state.parallelism)
        var keyedBlobs: [[UInt8]] = []
        let myRange = KeyGroups.range(
            forSubtask: spec.subtaskIndex, parallelism: vertex.parallelism, maxParallelism: vertex.maxParallelism, scope: vertex.keyGroupScope)
        for subtask in state.subtasks where subtask.subtaskIndex < state.parallelism {
            if let handle = subtask.operatorState {
                operatorBlobs[subtask.subtaskIndex] = try restore.storage.read(handle, checkpointId: id)
            }
            if let handle = subtask.keyedState, let range = subtask.keyGroupRange, !range.intersection(myRange).isEmpty {
                keyedBlobs.append(try restore.storage.read(handle, checkpointId: id))
            }
        }
        let lists = try OperatorStateStore.redistribute(oldBlobs: operatorBlobs, parallelism: vertex.parallelism, index: spec.subtaskIndex)
        return OperatorRestore(
            checkpointId: id, previousParallelism: state.parallelism, operatorLists: lists, keyedBlobs: keyedBlobs,
            storage: restore.storage)
    }

    /// The records that were in flight into this task when its restored (unaligned) checkpoint was
    /// taken: replayed before anything else.
    private func restoredChannelState(for head: JobVertex) throws -> [UInt8] {
        guard let restore = spec.restore, let state = restore.metadata.operatorState(head.name) else { return [] }
        let withRecords = state.subtasks.filter { $0.inputChannelState != nil }
        guard !withRecords.isEmpty else { return [] }
        guard state.parallelism == head.parallelism else {
            throw RuntimeConfigurationError.invalid(
                "Checkpoint \(restore.metadata.checkpointId) is unaligned and holds records in flight into operator '\(head.name)' "
                    + "at parallelism \(state.parallelism); they cannot be spread over parallelism \(head.parallelism). Restore it at "
                    + "parallelism \(state.parallelism), then stop with a savepoint (savepoints are always aligned) and rescale from that.")
        }
        guard let handle = withRecords.first(where: { $0.subtaskIndex == spec.subtaskIndex })?.inputChannelState else { return [] }
        return try restore.storage.read(handle, checkpointId: restore.metadata.checkpointId)
    }

    private func build() throws {
        let settings = spec.settings
        var downstream: AnyObject?
        var channelWriters: [any ChannelWriter] = []
        if !spec.outgoing.isEmpty, let tail = spec.vertices.last {
            let (channelWriter, output) = try tail.factory.makeWriter(
                edges: spec.outgoing, subtaskIndex: spec.subtaskIndex, batchSize: settings.batchSize, counter: outCounter)
            channelWriters.append(channelWriter)
            downstream = output
        }
        let coordinator = spec.coordinator
        let services = TaskServices(
            requestCheckpoint: { coordinator.requestCheckpoint() }, firstCheckpointId: spec.firstCheckpointId,
            stateBackend: settings.stateBackend, checkpointInterval: settings.checkpointInterval,
            acceptLostTransactionsOf: settings.acceptLostTransactionsOf)
        snapshotStorage = services.snapshotStorage
        var links: [ChainLink] = []
        var counters: [RecordCounter] = []
        for vertex in spec.vertices.reversed() {
            var sideOutputs: [String: AnyObject] = [:]
            var sideWatermarks: [any WatermarkTarget] = []
            for (tag, edges) in (spec.sideOutgoing[vertex.id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let wiring = vertex.sideOutputs[tag] else { throw WiringError(description: "side output '\(tag)' of '\(vertex.name)' is not declared") }
                let made = try wiring.makeWriter(edges: edges, subtaskIndex: spec.subtaskIndex, batchSize: settings.batchSize)
                channelWriters.append(made.writer)
                sideOutputs[tag] = made.output
                sideWatermarks.append(made.watermarks)
            }
            let setup = OperatorSetup(
                operatorID: vertex.name, subtaskIndex: spec.subtaskIndex, parallelism: vertex.parallelism,
                maxParallelism: vertex.maxParallelism, keyGroupScope: vertex.keyGroupScope, logger: settings.logger, metrics: settings.metrics,
                restore: try restoreState(for: vertex), clock: settings.clock, faultInjector: settings.faultInjector,
                services: services, sideOutputs: SideOutputs(outputs: sideOutputs, watermarkTargets: sideWatermarks))
            let counter = RecordCounter()
            let link = try vertex.factory.instantiate(setup: setup, downstream: downstream, counter: counter)
            links.append(link)
            counters.append(counter)
            downstream = link.input
        }
        links.reverse()
        counters.reverse()
        writer = channelWriters.count > 1 ? CompositeChannelWriter(channelWriters) : channelWriters.first
        operators = links.map(\.op)
        inCounters = counters
        for vertex in spec.vertices {
            metricCounters.append((
                settings.metrics.counter("sluice_records_in_total", operatorID: vertex.name, subtask: spec.subtaskIndex),
                settings.metrics.counter("sluice_records_out_total", operatorID: vertex.name, subtask: spec.subtaskIndex)))
            published.append((0, 0))
        }
        backpressure = settings.metrics.counter(
            "sluice_backpressured_time_nanoseconds_total", operatorID: spec.vertices.last?.name ?? spec.name, subtask: spec.subtaskIndex)
        guard let headVertex = spec.vertices.first, let headLink = links.first else {
            throw WiringError(description: "empty chain")
        }
        if headVertex.role == .source {
            guard let driver = headLink.op as? any SourceDriving else { throw WiringError(description: "source head is not a source operator") }
            source = driver
        } else {
            guard let gate = spec.gate else { throw WiringError(description: "task without input gate") }
            input = try headVertex.factory.makeInputProcessor(
                gate: gate, head: headLink, alignsBarriers: settings.checkpointingMode == .exactlyOnce,
                unaligned: settings.unaligned != nil, channelState: try restoredChannelState(for: headVertex), logger: logger)
        }
        if settings.unaligned != nil, let writer {
            let inbox = spec.inbox
            let gate = spec.gate
            writer.enableUnalignedCheckpoints {
                inbox.pendingMail.load(ordering: .acquiring) || gate?.hasOvertakingBarrier == true
            }
        }
    }

    // MARK: run

    /// Runs the task to its end; throws on failure or `TaskCancelled`.
    func run() throws {
        do {
            try build()
            for op in operators.reversed() { try op.open() }
            if source != nil { try runSource() } else { try runInput() }
            try writer?.emitEndOfPartition()
            publishMetrics()
            for op in operators { op.close(failed: false) }
        } catch {
            publishMetrics()
            for op in operators { op.close(failed: true) }
            throw error
        }
    }

    private func runSource() throws {
        guard let source else { return }
        let inbox = spec.inbox
        let clock = spec.settings.clock
        var ended = false
        while true {
            if inbox.pendingMail.load(ordering: .acquiring) {
                try processMail()
                if terminated { return }
            }
            if inbox.isCancelled.load(ordering: .acquiring) { throw TaskCancelled() }
            if !ended && stoppingAt == nil {
                switch try source.pollNext() {
                case .moreAvailable:
                    try flushIfDue()
                case .nothingAvailable:
                    try flush()
                    inbox.waitForMail(until: Date(timeIntervalSinceNow: Double(spec.settings.sourceIdleWaitMillis) / 1000))
                    try source.emitWatermarkUpdates(now: clock.nowMillis())
                case .endOfInput:
                    ended = true
                    try source.endInput()
                    try endOfData()
                    spec.coordinator.sourceFinished(spec.key)
                }
            } else if stoppingAt != nil {
                // Stopped with a savepoint: nothing may follow the barrier (pending timers are in
                // the savepoint and fire in the resumed job); wait for the end or an abort.
                try flush()
                inbox.waitForMail(until: nil)
                continue
            } else {
                try flush()
                inbox.waitForMail(until: timerDeadline())
            }
            try fireProcessingTimers()
        }
    }

    private func runInput() throws {
        guard let input else { return }
        while true {
            if spec.inbox.pendingMail.load(ordering: .acquiring) { try processMail() }
            var status = try input.processNext(delegate: self, deadline: nil, wait: false)
            if status == .timeout {
                try flush()
                status = try input.processNext(delegate: self, deadline: timerDeadline(), wait: true)
            } else {
                try flushIfDue()
            }
            if status == .finished { return }
            try fireProcessingTimers()
        }
    }

    /// Wake-up time for pending processing-time timers (nil: none). With a manual clock the task
    /// re-checks every few milliseconds.
    private func timerDeadline() -> Date? {
        var earliest: Int64?
        for op in operators {
            if let next = op.nextProcessingTimer { earliest = min(earliest ?? next, next) }
        }
        guard let earliest else { return nil }
        let clock = spec.settings.clock
        let delta = clock.isRealTime ? max(0, earliest - clock.nowMillis()) : 5
        return Date(timeIntervalSinceNow: Double(min(delta, 1000)) / 1000)
    }

    private func fireProcessingTimers() throws {
        var now: Int64?
        for op in operators {
            guard let next = op.nextProcessingTimer else { continue }
            let current = now ?? spec.settings.clock.nowMillis()
            now = current
            if next <= current { try op.fireProcessingTimers(now: current) }
        }
    }

    private func processMail() throws {
        for (mail, completion) in spec.inbox.drainMail() {
            do {
                try handle(mail)
                completion?.complete(processed: true)
            } catch {
                completion?.complete(processed: false)
                throw error
            }
        }
    }

    private func handle(_ mail: TaskMail) throws {
        switch mail {
        case .triggerCheckpoint(let barrier):
            try performCheckpoint(barrier)
            // Stop without draining: no more records and no final watermark, so open event-time
            // windows stay open in the savepoint (Flink's stop-with-savepoint without --drain).
            if barrier.savepoint?.stopsJob == true { stoppingAt = barrier.checkpointId }
        case .notifyCheckpointComplete(let id):
            for op in operators { try op.notifyCheckpointComplete(id) }
        case .notifyCheckpointAborted(let id):
            if stoppingAt == id { stoppingAt = nil }
            if unalignedPending?.id == id { unalignedPending = nil }
            input?.abortCheckpoint(id)
            for op in operators { try op.notifyCheckpointAborted(id) }
        case .terminate:
            terminated = true
        }
    }

    // MARK: InputProcessorDelegate

    func performCheckpoint(_ barrier: CheckpointBarrier) throws {
        try snapshot(barrier, acknowledge: true)
    }

    func startUnalignedCheckpoint(_ barrier: CheckpointBarrier) throws {
        try snapshot(barrier, acknowledge: false)
    }

    func completeUnalignedCheckpoint(_ checkpointId: Int64, channelState: [UInt8]) throws {
        guard let pending = unalignedPending, pending.id == checkpointId else { return }
        unalignedPending = nil
        var states = pending.states
        do {
            if !channelState.isEmpty, let head = spec.vertices.first, var headState = states[head.name] {
                let handles = try pending.storage.writeState(
                    checkpointId: checkpointId, name: "\(head.name)-\(spec.subtaskIndex)-in-flight", blobs: [channelState])
                headState.inputChannelState = handles.first ?? nil
                states[head.name] = headState
            }
            try spec.settings.faultInjector.hit(.afterSnapshot, checkpointId: checkpointId)
            spec.coordinator.acknowledge(checkpointId, task: spec.key, states: states)
        } catch let error as InjectedFault {
            throw error
        } catch {
            logger.warning("Declining checkpoint \(checkpointId): its channel state could not be written: \(error)")
            spec.coordinator.decline(checkpointId, task: spec.key, reason: "\(error)")
        }
    }

    /// Snapshots every operator of the chain for `barrier` after forwarding it. Aligned: acknowledges
    /// at once. Unaligned: keeps the handles until the channel state is complete.
    private func snapshot(_ barrier: CheckpointBarrier, acknowledge: Bool) throws {
        let id = barrier.checkpointId
        for op in operators { try op.prepareSnapshotPreBarrier(checkpointId: id) }
        try writer?.emitBarrier(barrier)
        do {
            let storage = spec.settings.storage.destination(for: barrier)
            snapshotStorage?.storage = storage
            var snapshots: [OperatorSnapshot] = []
            for op in operators { snapshots.append(try op.snapshotState(checkpointId: id)) }
            var blobs: [[UInt8]] = []
            for snapshot in snapshots {
                blobs.append(snapshot.operatorState)
                blobs.append(snapshot.keyedState)
            }
            let handles = try storage.writeState(
                checkpointId: id, name: "\(spec.vertices.first?.name ?? "task")-\(spec.subtaskIndex)", blobs: blobs)
            var states: [String: OperatorSubtaskStateHandle] = [:]
            for (i, vertex) in spec.vertices.enumerated() {
                states[vertex.name] = OperatorSubtaskStateHandle(
                    subtaskIndex: spec.subtaskIndex, operatorState: handles[2 * i], keyedState: handles[2 * i + 1],
                    keyGroupRange: snapshots[i].keyGroupRange, stateFiles: snapshots[i].stateFiles)
            }
            guard acknowledge else {
                unalignedPending = (id, storage, states)
                return
            }
            try spec.settings.faultInjector.hit(.afterSnapshot, checkpointId: id)
            spec.coordinator.acknowledge(id, task: spec.key, states: states)
        } catch let failure as TaskFailure {
            throw failure.underlying
        } catch let error as InjectedFault {
            throw error
        } catch let error as TaskCancelled {
            throw error
        } catch {
            logger.warning("Declining checkpoint \(id): \(error)")
            spec.coordinator.decline(id, task: spec.key, reason: "\(error)")
        }
    }

    func abandonCheckpoint(_ checkpointId: Int64, reason: String) {
        logger.debug("Declining checkpoint \(checkpointId): \(reason).")
        spec.coordinator.decline(checkpointId, task: spec.key, reason: reason, isFailure: false)
    }

    func endOfData() throws {
        guard !finishedOperators else { return }
        finishedOperators = true
        for op in operators { try op.finish() }
        try writer?.emitEndOfData()
    }

    // MARK: flushing and metrics

    private func flush() throws {
        try writer?.flush()
        lastFlush = DispatchTime.now().uptimeNanoseconds
        publishMetrics()
    }

    private func flushIfDue() throws {
        let now = DispatchTime.now().uptimeNanoseconds
        if now &- lastFlush >= UInt64(spec.settings.bufferTimeoutMillis) * 1_000_000 { try flush() }
    }

    private func publishMetrics() {
        for i in operators.indices where i < metricCounters.count {
            let recordsIn = i == 0 && source != nil ? 0 : inCounters[i].count
            let recordsOut = i + 1 < inCounters.count ? inCounters[i + 1].count : outCounter.count
            if recordsIn > published[i].in { metricCounters[i].in.increment(by: recordsIn - published[i].in) }
            if recordsOut > published[i].out { metricCounters[i].out.increment(by: recordsOut - published[i].out) }
            published[i] = (recordsIn, recordsOut)
            operators[i].publishMetrics()
        }
        if let writer {
            let nanos = writer.takeBackpressureNanos()
            if nanos > 0 { backpressure?.increment(by: Int64(clamping: nanos)) }
        }
    }
}

/// The untyped face of the source operator, for the task loop.
protocol SourceDriving: AnyObject {
    func pollNext() throws -> SourceStatus
    func emitWatermarkUpdates(now: Int64) throws
    func endInput() throws
}

extension SourceOperator: SourceDriving {}
