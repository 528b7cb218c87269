import Foundation
import Logging
import Metrics
import Synchronization

/// How a job ended.
public struct JobResult: Sendable {
    public enum Status: Sendable, Equatable {
        case finished
        case cancelled
        /// `JobControl.stopWithSavepoint` completed: the savepoint's folder.
        case stoppedWithSavepoint(String)
    }
    public let status: Status
    public let restarts: Int
    /// The last checkpoint completed by the job (in its last attempt), if any.
    public let lastCompletedCheckpoint: Int64?
}

/// The job failed for good: the restart strategy gave up.
public struct JobFailedError: Error, CustomStringConvertible {
    public let underlying: any Error
    public let restarts: Int
    public var description: String {
        "The job failed after \(restarts) restart(s): \(underlying)"
    }
}

/// Configuration problems, with what to change.
public enum RuntimeConfigurationError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let why): return why
        }
    }
}

/// A running job's state as operators and status endpoints show it.
public struct JobStatus: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable {
        case created, running, restarting, finished, failed, cancelled, stoppedWithSavepoint
    }

    public var phase: Phase = .created
    public var restarts = 0
    public var lastCompletedCheckpoint: Int64?
    public var lastCheckpointDurationMillis: Int64?
    public var lastCheckpointBytes: Int64?
    /// Wall-clock milliseconds since the epoch when the last checkpoint completed.
    public var lastCheckpointCompletedAtMillis: Int64?
    public var lastFailure: String?

    public init() {}
}

/// Cancels a running job from any thread (e.g. a ServiceLifecycle graceful shutdown), and
/// triggers checkpoints on demand.
public final class JobControl: Sendable {
    private struct State {
        var cancelled = false
        var attempt: AttemptMonitor?
        var coordinator: CheckpointCoordinator?
    }
    private let state = Mutex(State())
    private let cancelWake = NSCondition()

    private let currentStatus = Mutex(JobStatus())

    public init() {}

    /// The job's phase, restarts and last completed checkpoint, from any thread.
    public var status: JobStatus { currentStatus.withLock { $0 } }

    func updateStatus(_ change: (inout JobStatus) -> Void) {
        currentStatus.withLock { change(&$0) }
    }

    /// Stops every task and makes `execute()` return `.cancelled`. Open transactions are aborted.
    public func cancel() {
        let attempt = state.withLock { s -> AttemptMonitor? in
            s.cancelled = true
            return s.attempt
        }
        attempt?.cancel()
        cancelWake.lock()
        cancelWake.broadcast()
        cancelWake.unlock()
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Triggers a checkpoint as soon as none is in flight.
    public func triggerCheckpoint() {
        state.withLock { $0.coordinator }?.requestCheckpoint()
    }

    /// Takes a savepoint into a new folder `<directory>/savepoint-<id>-<time>/` and returns its
    /// path once its `_metadata` is written. The job keeps running. A savepoint is self-contained
    /// and never deleted by checkpoint retention; restore from it with
    /// `RuntimeConfiguration.restoreFrom` or `execute(restoreFrom:)`.
    /// Blocks the calling thread: call it from a thread of your own (or use the async overload).
    public func triggerSavepoint(directory: String) throws -> String {
        try savepoint(directory: directory, stopsJob: false)
    }

    /// Stops the job with a savepoint (Flink's stop-with-savepoint without --drain): sources stop
    /// without emitting the final watermark (open event-time windows are not fired), the savepoint
    /// is taken through the barriers, two-phase-commit sinks commit, and `execute()` returns
    /// `.stoppedWithSavepoint(path)`. Returns the savepoint's path. If the savepoint fails, the
    /// job keeps running and this throws. Blocks the calling thread (see `triggerSavepoint`).
    public func stopWithSavepoint(directory: String) throws -> String {
        try savepoint(directory: directory, stopsJob: true)
    }

    /// `triggerSavepoint(directory:)` waiting on a dedicated thread, not on the cooperative pool.
    public func triggerSavepoint(directory: String) async throws -> String {
        try await onDedicatedThread { try self.savepoint(directory: directory, stopsJob: false) }
    }

    /// `stopWithSavepoint(directory:)` waiting on a dedicated thread, not on the cooperative pool.
    public func stopWithSavepoint(directory: String) async throws -> String {
        try await onDedicatedThread { try self.savepoint(directory: directory, stopsJob: true) }
    }

    private func savepoint(directory: String, stopsJob: Bool) throws -> String {
        guard let coordinator = state.withLock({ $0.coordinator }) else { throw SavepointError.jobNotRunning }
        let request = SavepointRequest(directory: directory, stopsJob: stopsJob)
        coordinator.requestSavepoint(request)
        return try request.wait()
    }

    private func onDedicatedThread(_ body: @escaping @Sendable () throws -> String) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.name = "sluice savepoint"
            thread.start()
        }
    }

    /// Returns false when cancelled first.
    func attach(_ attempt: AttemptMonitor, coordinator: CheckpointCoordinator) -> Bool {
        state.withLock { s in
            guard !s.cancelled else { return false }
            s.attempt = attempt
            s.coordinator = coordinator
            return true
        }
    }

    func detach() {
        state.withLock { s in
            s.attempt = nil
            s.coordinator = nil
        }
    }

    /// Sleeps `millis` on `clock`, waking early on cancel. A manual clock is polled: the test
    /// moves it past the deadline.
    func sleep(millis: Int64, clock: any RuntimeClock) {
        guard !clock.isRealTime else { return sleep(millis: millis) }
        let until = clock.nowMillis() + millis
        while !isCancelled && clock.nowMillis() < until { sleep(millis: 1) }
    }

    /// Sleeps up to `millis`, waking early on cancel.
    func sleep(millis: Int64) {
        let deadline = Date(timeIntervalSinceNow: Double(millis) / 1000)
        cancelWake.lock()
        while !isCancelled && Date() < deadline { _ = cancelWake.wait(until: deadline) }
        cancelWake.unlock()
    }
}

/// Watches the threads of one attempt: all finished, or the first failure.
final class AttemptMonitor: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var running = 0
    private var failure: (any Error)?
    private var cancelled = false
    private var inboxes: [TaskInbox] = []
    private var coordinator: CheckpointCoordinator?

    func setUp(inboxes: [TaskInbox], coordinator: CheckpointCoordinator, threads: Int) {
        condition.locked {
            self.inboxes = inboxes
            self.coordinator = coordinator
            running = threads
        }
    }

    func threadFinished(_ error: (any Error)?) {
        condition.lock()
        running -= 1
        if let error, !(error is TaskCancelled), failure == nil, !cancelled { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil && !cancelled { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    enum Outcome {
        case finished
        case cancelled
        case failed(any Error)
    }

    /// Waits for the end; on failure or cancel, cancels every task and waits for all threads.
    func waitForEnd() -> Outcome {
        condition.lock()
        while running > 0 && failure == nil && !cancelled { condition.wait() }
        let outcome: Outcome = failure.map { .failed($0) } ?? (cancelled ? .cancelled : .finished)
        let inboxes = self.inboxes
        let coordinator = self.coordinator
        condition.unlock()
        if case .finished = outcome {} else {
            coordinator?.stop()
            for inbox in inboxes { inbox.cancel() }
        }
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
        return outcome
    }
}

/// Runs a frozen job graph: attempts, restores and restarts.
struct JobExecutor: Sendable {
    let vertices: [JobVertex]
    let configuration: RuntimeConfiguration
    let control: JobControl
    let storage: any CheckpointStorage
    let metrics: RuntimeMetrics
    /// A savepoint or checkpoint named to start from (overrides the checkpoint directory's latest).
    let initialSnapshot: RestorableSnapshot?

    /// The first attempt starts from the named snapshot; later attempts from the newest completed
    /// checkpoint of the job's storage unless the named snapshot, or a stop savepoint recorded since
    /// (its sinks may have committed before this attempt failed), is newer.
    private func restorePoint(firstAttempt: Bool, logger: Logger) throws -> RestoreSource? {
        let latest = storage.latestCompleted(logger: logger)
        var named = initialSnapshot
        if !firstAttempt, let stopped = try storage.stopSavepointToResume(logger: logger),
           stopped.metadata.checkpointId > (named?.metadata.checkpointId ?? Int64.min) {
            named = stopped
        }
        if let initial = named, firstAttempt || (latest?.checkpointId ?? 0) <= initial.metadata.checkpointId {
            storage.removeNewer(than: initial.metadata.checkpointId, logger: logger)
            logger.info("Restoring job '\(configuration.jobName)' from \(initial.metadata.kind) \(initial.metadata.checkpointId) at \(initial.path).")
            return RestoreSource(metadata: initial.metadata, storage: initial.storage)
        }
        storage.removeNewer(than: latest?.checkpointId, logger: logger)
        if let latest {
            logger.info("Restoring job '\(configuration.jobName)' from checkpoint \(latest.checkpointId).")
        }
        return latest.map { RestoreSource(metadata: $0, storage: storage) }
    }

    func run() throws -> JobResult {
        let logger = configuration.logger
        var decider = RestartDecider(configuration.restartStrategy)
        var restarts: Int { decider.restarts }
        let restartCounter = metrics.jobCounter("sluice_restarts_total")
        while true {
            let restore = try restorePoint(firstAttempt: restarts == 0, logger: logger)
            control.updateStatus { $0.phase = .running }
            let (outcome, lastCompleted, stopPath) = runAttempt(restore: restore)
            switch outcome {
            case .finished:
                if let stopPath {
                    control.updateStatus { $0.phase = .stoppedWithSavepoint }
                    return JobResult(status: .stoppedWithSavepoint(stopPath), restarts: restarts, lastCompletedCheckpoint: lastCompleted)
                }
                control.updateStatus { $0.phase = .finished }
                return JobResult(status: .finished, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
            case .cancelled:
                control.updateStatus { $0.phase = .cancelled }
                return JobResult(status: .cancelled, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
            case .failed(let error):
                let failedAfter = restarts
                guard case .restart(let delay) = decider.onFailure(at: configuration.clock.nowMillis()) else {
                    logger.error("Job '\(configuration.jobName)' failed: \(error)")
                    control.updateStatus {
                        $0.phase = .failed
                        $0.lastFailure = "\(error)"
                    }
                    throw JobFailedError(underlying: error, restarts: failedAfter)
                }
                control.updateStatus {
                    $0.phase = .restarting
                    $0.restarts = decider.restarts
                    $0.lastFailure = "\(error)"
                }
                restartCounter.increment()
                logger.warning("Job '\(configuration.jobName)' failed (\(error)); restart \(restarts) in \(delay) ms.")
                control.sleep(millis: delay, clock: configuration.clock)
                if control.isCancelled {
                    return JobResult(status: .cancelled, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
                }
            }
        }
    }

    /// One attempt: plan chains, create gates, start a thread per task subtask and the coordinator.
    private func runAttempt(restore restoreSource: RestoreSource?) -> (AttemptMonitor.Outcome, Int64?, String?) {
        let logger = configuration.logger
        let firstCheckpointId = (restoreSource?.metadata.checkpointId ?? 0) + 1
        let monitor = AttemptMonitor()
        let coordinator = CheckpointCoordinator(
            config: configuration.checkpointing, storage: storage, clock: configuration.clock, logger: logger,
            metrics: metrics, faultInjector: configuration.faultInjector ?? .disabled, firstCheckpointId: firstCheckpointId,
            onFailure: { monitor.fail($0) },
            onCompleted: { [control] id, durationMillis, bytes in
                control.updateStatus {
                    $0.lastCompletedCheckpoint = id
                    $0.lastCheckpointDurationMillis = durationMillis
                    $0.lastCheckpointBytes = bytes
                    $0.lastCheckpointCompletedAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
                }
            })
        let chains = ExecutionPlanner.chains(vertices, chaining: configuration.chaining)
        var settings = TaskSettings(
            logger: logger, metrics: metrics, clock: configuration.clock, faultInjector: configuration.faultInjector ?? .disabled,
            storage: storage, batchSize: configuration.batchSize, bufferTimeoutMillis: configuration.bufferTimeoutMillis,
            sourceIdleWaitMillis: configuration.sourceIdleWaitMillis, checkpointingMode: configuration.checkpointing.mode,
            stateBackend: configuration.stateBackend)
        settings.checkpointInterval = configuration.checkpointing.intervalMillis.map { .milliseconds($0) }

        // Inboxes and gates first: producers need their consumers' gates.
        let byVertex = Dictionary(uniqueKeysWithValues: vertices.map { ($0.id, $0) })
        var inboxes: [Int: [TaskInbox]] = [:]
        var gates: [Int: [any AnyInputGate]] = [:]
        var channelOffsets: [Int: [Int]] = [:]  // chain index -> offset per head input edge
        for (c, chain) in chains.enumerated() {
            guard let head = chain.first else { continue }
            inboxes[c] = (0..<head.parallelism).map { _ in TaskInbox() }
            guard head.role != .source else { continue }
            var offsets: [Int] = []
            var total = 0
            for edge in head.inputs {
                offsets.append(total)
                total += edge.partitioner.isForward ? 1 : (byVertex[edge.source]?.parallelism ?? 1)
            }
            channelOffsets[c] = offsets
            gates[c] = (inboxes[c] ?? []).map { head.factory.makeGate(inbox: $0, channelCount: total, capacity: configuration.channelCapacity) }
        }
        let chainOfHead = Dictionary(uniqueKeysWithValues: chains.enumerated().compactMap { c, chain in chain.first.map { ($0.id, c) } })

        var specs: [TaskSpec] = []
        var coordinated: [CoordinatedTask] = []
        for (c, chain) in chains.enumerated() {
            guard let head = chain.first, let tail = chain.last else { continue }
            for subtask in 0..<head.parallelism {
                var outgoing: [OutgoingEdge] = []
                for consumer in vertices {
                    for (edgeIndex, edge) in consumer.inputs.enumerated() where edge.source == tail.id && edge.sideOutput == nil {
                        guard let consumerChain = chainOfHead[consumer.id], let consumerGates = gates[consumerChain],
                              let offset = channelOffsets[consumerChain]?[edgeIndex] else { continue }
                        if edge.partitioner.isForward {
                            outgoing.append(OutgoingEdge(gates: [consumerGates[subtask]], channel: offset, partitioner: .forward))
                        } else {
                            outgoing.append(OutgoingEdge(gates: consumerGates, channel: offset + subtask, partitioner: edge.partitioner))
                        }
                    }
                }
                // Side-output edges of any vertex of the chain (never chained themselves).
                var sideOutgoing: [Int: [String: [OutgoingEdge]]] = [:]
                let inChain = Set(chain.map(\.id))
                for consumer in vertices {
                    for (edgeIndex, edge) in consumer.inputs.enumerated() where inChain.contains(edge.source) {
                        guard let tag = edge.sideOutput, let consumerChain = chainOfHead[consumer.id],
                              let consumerGates = gates[consumerChain], let offset = channelOffsets[consumerChain]?[edgeIndex] else { continue }
                        let out = edge.partitioner.isForward
                            ? OutgoingEdge(gates: [consumerGates[subtask]], channel: offset, partitioner: .forward)
                            : OutgoingEdge(gates: consumerGates, channel: offset + subtask, partitioner: edge.partitioner)
                        sideOutgoing[edge.source, default: [:]][tag, default: []].append(out)
                    }
                }
                let inbox = inboxes[c]?[subtask] ?? TaskInbox()
                let key = TaskKey(chain: c, subtask: subtask)
                let name = "\(chain.map(\.name).joined(separator: " -> ")) (\(subtask + 1)/\(head.parallelism))"
                specs.append(TaskSpec(
                    key: key, name: name, vertices: chain, subtaskIndex: subtask, inbox: inbox, gate: gates[c]?[subtask],
                    outgoing: outgoing, sideOutgoing: sideOutgoing, restore: restoreSource, settings: settings, coordinator: coordinator,
                    firstCheckpointId: firstCheckpointId))
                coordinated.append(CoordinatedTask(
                    key: key, inbox: inbox, isSource: head.role == .source,
                    commitsOnComplete: chain.contains { $0.role == .sink && $0.commitsOnComplete },
                    operatorIDs: chain.map(\.name)))
            }
        }
        coordinator.register(tasks: coordinated, vertices: vertices)
        monitor.setUp(inboxes: coordinated.map(\.inbox), coordinator: coordinator, threads: specs.count + 1)
        guard control.attach(monitor, coordinator: coordinator) else { return (.cancelled, nil, nil) }
        defer { control.detach() }

        for spec in specs {
            let thread = Thread {
                let task = StreamTask(spec: spec)
                do {
                    try task.run()
                    monitor.threadFinished(nil)
                } catch {
                    if !(error is TaskCancelled) {
                        spec.settings.logger.error("Task \(spec.name) failed: \(error)")
                    }
                    monitor.threadFinished(error)
                }
            }
            thread.name = "sluice \(spec.name)"
            thread.stackSize = 4 << 20
            thread.start()
        }
        let coordinatorThread = Thread {
            coordinator.run()
            monitor.threadFinished(nil)
        }
        coordinatorThread.name = "sluice checkpoint coordinator"
        coordinatorThread.start()
        let outcome = monitor.waitForEnd()
        coordinator.stop()
        return (outcome, coordinator.lastCompleted, coordinator.stoppedWithSavepoint)
    }
}

/// Groups vertices into chains: a vertex joins its single producer's chain over a forward edge
/// of equal parallelism when that producer has no other consumer of its main output. Side-output
/// edges always cross tasks (through channels), whatever their partitioning.
enum ExecutionPlanner {
    static func chains(_ vertices: [JobVertex], chaining: Bool) -> [[JobVertex]] {
        var consumers: [Int: Int] = [:]
        for vertex in vertices {
            for edge in vertex.inputs where edge.sideOutput == nil { consumers[edge.source, default: 0] += 1 }
        }
        var chainOf: [Int: Int] = [:]
        var chains: [[JobVertex]] = []
        let byId = Dictionary(uniqueKeysWithValues: vertices.map { ($0.id, $0) })
        for vertex in vertices {  // declaration order is topological
            if chaining, vertex.role != .source, vertex.chainable, vertex.inputs.count == 1,
               let edge = vertex.inputs.first, edge.partitioner.isForward, edge.sideOutput == nil,
               let producer = byId[edge.source], producer.parallelism == vertex.parallelism,
               consumers[producer.id] == 1, let chain = chainOf[producer.id], chains[chain].last?.id == producer.id {
                chains[chain].append(vertex)
                chainOf[vertex.id] = chain
            } else {
                chainOf[vertex.id] = chains.count
                chains.append([vertex])
            }
        }
        return chains
    }
}
