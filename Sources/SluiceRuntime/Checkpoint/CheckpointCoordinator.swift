import Foundation
import Logging
import Metrics

/// A task as the coordinator sees it.
struct CoordinatedTask: Sendable {
    let key: TaskKey
    let inbox: TaskInbox
    let isSource: Bool
    /// Holds a two-phase-commit sink: notified one at a time, in subtask order.
    let commitsOnComplete: Bool
    let operatorIDs: [String]
}

/// What a checkpoint guarantees (Flink's CheckpointingMode).
public enum CheckpointingMode: Sendable, Equatable {
    /// Barriers are aligned: a task blocks each input channel that delivered barrier N until all
    /// did, so the snapshot holds exactly the records before the barrier.
    case exactlyOnce
    /// No alignment: channels are never blocked; a task snapshots when barrier N arrived on every
    /// input. Records that overtook the barrier are in the state and are replayed after a restore
    /// (duplicates in state and non-transactional output), in exchange for no alignment stalls.
    case atLeastOnce
}

/// Checkpoint settings of a job.
public struct CheckpointConfig: Sendable {
    /// Periodic checkpoints every `interval`; nil: only on demand and the final checkpoint.
    public var intervalMillis: Int64?
    /// A checkpoint not complete after this long is aborted.
    public var timeoutMillis: Int64
    /// Completed checkpoints kept; older ones are deleted after a newer one completes.
    public var retainedCheckpoints: Int
    /// Where checkpoints are stored; in memory when nil (they then survive only in-process restarts).
    public var directory: String?
    /// A periodic checkpoint starts at least this long after the previous one ended (completed or
    /// aborted). Requested checkpoints, savepoints and the final checkpoint do not wait for it.
    /// When > 0, at most one checkpoint is in flight whatever `maxConcurrentCheckpoints` says
    /// (as in Flink: a pause between checkpoints implies one at a time).
    public var minPauseBetweenCheckpointsMillis: Int64
    /// Periodic and requested checkpoints in flight at once (at least 1). With more than one, the
    /// next checkpoint is triggered at the interval even while earlier ones are pending; they
    /// complete in id order, and a completed checkpoint subsumes older pending ones. Savepoints
    /// and the final checkpoint wait until none is in flight.
    public var maxConcurrentCheckpoints: Int
    public var mode: CheckpointingMode

    public init(
        intervalMillis: Int64? = nil, timeoutMillis: Int64 = 600_000, retainedCheckpoints: Int = 3, directory: String? = nil,
        minPauseBetweenCheckpointsMillis: Int64 = 0, maxConcurrentCheckpoints: Int = 1, mode: CheckpointingMode = .exactlyOnce
    ) {
        self.intervalMillis = intervalMillis
        self.timeoutMillis = timeoutMillis
        self.retainedCheckpoints = retainedCheckpoints
        self.directory = directory
        self.minPauseBetweenCheckpointsMillis = minPauseBetweenCheckpointsMillis
        self.maxConcurrentCheckpoints = maxConcurrentCheckpoints
        self.mode = mode
    }

    /// Refuses settings that cannot work, saying what to change.
    func validate() throws {
        guard maxConcurrentCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "maxConcurrentCheckpoints is \(maxConcurrentCheckpoints), but at least one checkpoint must be allowed in flight: "
                    + "set it to 1 (one at a time) or more; to turn periodic checkpoints off, set intervalMillis to nil.")
        }
        if let interval = intervalMillis, interval <= 0 {
            throw RuntimeConfigurationError.invalid("The checkpoint interval must be positive (got \(interval) ms); use nil to disable periodic checkpoints.")
        }
        guard timeoutMillis > 0, minPauseBetweenCheckpointsMillis >= 0, retainedCheckpoints >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "Checkpointing needs timeoutMillis > 0, minPauseBetweenCheckpointsMillis >= 0 and retainedCheckpoints >= 1 "
                    + "(got \(timeoutMillis), \(minPauseBetweenCheckpointsMillis), \(retainedCheckpoints)).")
        }
    }

    /// Checkpoints (not savepoints) allowed in flight: a minimum pause forces one at a time.
    var effectiveMaxConcurrentCheckpoints: Int {
        minPauseBetweenCheckpointsMillis > 0 ? 1 : max(1, maxConcurrentCheckpoints)
    }

    /// When the next periodic checkpoint may start: one interval after the last trigger and the
    /// minimum pause after the last checkpoint ended (nil: periodic checkpoints are off).
    func nextPeriodicTrigger(lastTriggerAt: Int64, lastEndedAt: Int64?) -> Int64? {
        guard let interval = intervalMillis else { return nil }
        let byInterval = lastTriggerAt + interval
        guard let lastEndedAt else { return byInterval }
        return max(byInterval, lastEndedAt + minPauseBetweenCheckpointsMillis)
    }
}

/// Triggers checkpoints at the sources, collects every task's acknowledgement, completes the
/// checkpoint by writing its metadata, and notifies every task (Flink's CheckpointCoordinator).
/// Up to `maxConcurrentCheckpoints` checkpoints are in flight, each with its own timeout;
/// they complete in id order (a checkpoint that completes subsumes older pending ones, and its
/// notification covers them). Runs on its own thread.
final class CheckpointCoordinator: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `condition`; storage I/O and notification waits
    // happen on the coordinator thread with the lock released.
    private struct Pending {
        let barrier: CheckpointBarrier
        let startedAt: Int64
        var remaining: Set<TaskKey>
        var states: [TaskKey: [String: OperatorSubtaskStateHandle]] = [:]
        var declined: String?
        var savepoint: SavepointRequest?
    }

    private let condition = NSCondition()
    private let config: CheckpointConfig
    private let storage: any CheckpointStorage
    private let clock: any RuntimeClock
    private let logger: Logger
    private let metrics: RuntimeMetrics
    private let faultInjector: FaultInjector
    private let onFailure: @Sendable (any Error) -> Void
    /// Told of every completed checkpoint (not savepoints), for the job's status.
    private let onCompleted: (@Sendable (Int64, Int64, Int64) -> Void)?
    /// Told of every completed checkpoint and savepoint, for dashboards.
    private let history: CheckpointHistory?
    private var tasks: [CoordinatedTask] = []
    private var vertices: [String: (parallelism: Int, maxParallelism: Int)] = [:]
    private var nextId: Int64
    /// Checkpoints in flight, ascending id.
    private var pending: [Pending] = []
    private var requested = false
    private var lastTriggerAt: Int64
    /// When the last checkpoint completed or was aborted (the minimum pause starts there).
    private var lastEndedAt: Int64?
    private var finishedSources: Set<TaskKey> = []
    private var stopped = false
    private var done = false
    private var completedCount = 0
    private var lastCompletedId: Int64?
    private var savepointRequests: [SavepointRequest] = []
    private var stopSavepointPath: String?

    /// The last checkpoint this coordinator completed.
    var lastCompleted: Int64? { condition.locked { lastCompletedId } }
    /// The path of the savepoint the job stopped with, once it completed.
    var stoppedWithSavepoint: String? { condition.locked { stopSavepointPath } }

    init(
        config: CheckpointConfig, storage: any CheckpointStorage, clock: any RuntimeClock, logger: Logger,
        metrics: RuntimeMetrics, faultInjector: FaultInjector, firstCheckpointId: Int64,
        onFailure: @escaping @Sendable (any Error) -> Void,
        onCompleted: (@Sendable (_ id: Int64, _ durationMillis: Int64, _ bytes: Int64) -> Void)? = nil,
        history: CheckpointHistory? = nil
    ) {
        self.onCompleted = onCompleted
        self.history = history
        self.config = config
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.faultInjector = faultInjector
        self.nextId = firstCheckpointId
        self.onFailure = onFailure
        self.lastTriggerAt = clock.nowMillis()
    }

    func register(tasks: [CoordinatedTask], vertices: [JobVertex]) {
        condition.lock()
        self.tasks = tasks
        for vertex in vertices { self.vertices[vertex.name] = (vertex.parallelism, vertex.maxParallelism) }
        condition.unlock()
    }

    // MARK: events from tasks and the job

    func requestCheckpoint() {
        condition.lock()
        requested = true
        condition.broadcast()
        condition.unlock()
    }

    /// Queues a savepoint; taken as soon as no checkpoint is in flight. Returns false when the
    /// coordinator already stopped (the request is then failed).
    @discardableResult
    func requestSavepoint(_ request: SavepointRequest) -> Bool {
        condition.lock()
        guard !stopped && !done else {
            condition.unlock()
            request.finish(.failure(.jobEnded))
            return false
        }
        savepointRequests.append(request)
        condition.broadcast()
        condition.unlock()
        return true
    }

    func acknowledge(_ id: Int64, task: TaskKey, states: [String: OperatorSubtaskStateHandle]) {
        condition.lock()
        if let i = pending.firstIndex(where: { $0.barrier.checkpointId == id }) {
            pending[i].remaining.remove(task)
            pending[i].states[task] = states
            condition.broadcast()
        }
        condition.unlock()
    }

    func decline(_ id: Int64, task: TaskKey, reason: String) {
        condition.lock()
        if let i = pending.firstIndex(where: { $0.barrier.checkpointId == id }), pending[i].declined == nil {
            pending[i].declined = "\(task) declined: \(reason)"
            condition.broadcast()
        }
        condition.unlock()
    }

    /// For tests: the ids of the checkpoints in flight, ascending.
    var inFlight: [Int64] { condition.locked { pending.map(\.barrier.checkpointId) } }

    func sourceFinished(_ task: TaskKey) {
        condition.lock()
        finishedSources.insert(task)
        condition.broadcast()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    // MARK: the coordinator thread

    /// Runs until stopped or until the final checkpoint completed and the sources were told to end.
    func run() {
        condition.lock()
        defer {
            // Savepoints still waiting will never be taken by this attempt.
            var unfinished = savepointRequests
            savepointRequests = []
            unfinished += pending.compactMap(\.savepoint)
            condition.unlock()
            for request in unfinished { request.finish(.failure(.jobEnded)) }
        }
        if config.maxConcurrentCheckpoints > 1 && config.minPauseBetweenCheckpointsMillis > 0 {
            logger.notice(
                "maxConcurrentCheckpoints is \(config.maxConcurrentCheckpoints) but minPauseBetweenCheckpointsMillis is set: one checkpoint at a time.")
        }
        while !stopped && !done {
            let now = clock.nowMillis()
            abortDeclinedAndTimedOut(now: now)
            if let index = pending.firstIndex(where: { $0.remaining.isEmpty && $0.declined == nil }) {
                // Acknowledged by every task. Older pending ones can no longer complete usefully:
                // this one's state already covers them (Flink subsumes them the same way).
                let p = pending[index]
                let subsumed = pending[..<index]
                pending.removeFirst(index + 1)
                for old in subsumed { abort(old, reason: "subsumed by checkpoint \(p.barrier.checkpointId), which completed first") }
                condition.unlock()
                let outcome = complete(p)
                condition.lock()
                if case .failed(let error) = outcome {
                    stopped = true
                    condition.unlock()
                    onFailure(error)
                    condition.lock()
                    return
                }
                if p.barrier.isFinal || p.barrier.savepoint?.stopsJob == true, case .completed = outcome {
                    if let target = p.barrier.savepoint, target.stopsJob { stopSavepointPath = target.path }
                    for task in tasks where task.isSource { task.inbox.post(.terminate) }
                    done = true
                    return
                }
                continue
            }
            triggerIfDue(now: now)
            _ = condition.wait(until: Date(timeIntervalSinceNow: waitSeconds(now: now)))
        }
    }

    /// Lock held.
    private func abortDeclinedAndTimedOut(now: Int64) {
        var i = 0
        while i < pending.count {
            let p = pending[i]
            let timedOut = now - p.startedAt >= config.timeoutMillis
            guard let reason = p.declined ?? (timedOut ? "timed out after \(config.timeoutMillis) ms" : nil) else {
                i += 1
                continue
            }
            pending.remove(at: i)
            abort(p, reason: reason)
        }
    }

    /// Lock held. Savepoints and the final checkpoint wait until nothing is in flight, and
    /// nothing else starts while one of them is pending.
    private func triggerIfDue(now: Int64) {
        guard !pending.contains(where: { $0.barrier.isFinal || $0.barrier.savepoint != nil }) else { return }
        let sourceCount = tasks.filter(\.isSource).count
        let allSourcesFinished = sourceCount > 0 && finishedSources.count == sourceCount
        if !savepointRequests.isEmpty {
            guard pending.isEmpty else { return }
            let request = savepointRequests.removeFirst()
            trigger(now: now, isFinal: false, savepoint: request)
        } else if allSourcesFinished {
            guard pending.isEmpty else { return }
            trigger(now: now, isFinal: true)
        } else if pending.count < config.effectiveMaxConcurrentCheckpoints,
                  requested || (config.nextPeriodicTrigger(lastTriggerAt: lastTriggerAt, lastEndedAt: lastEndedAt).map { now >= $0 } ?? false) {
            trigger(now: now, isFinal: false)
        }
    }

    private func waitSeconds(now: Int64) -> Double {
        guard clock.isRealTime else { return 0.005 }
        var millis: Int64 = 50
        if pending.count < config.effectiveMaxConcurrentCheckpoints,
           let next = config.nextPeriodicTrigger(lastTriggerAt: lastTriggerAt, lastEndedAt: lastEndedAt) {
            millis = min(millis, max(1, next - now))
        }
        for p in pending { millis = min(millis, max(1, p.startedAt + config.timeoutMillis - now)) }
        return Double(millis) / 1000
    }

    /// Lock held.
    private func trigger(now: Int64, isFinal: Bool, savepoint: SavepointRequest? = nil) {
        let target = savepoint.map {
            SavepointTarget(path: SavepointRequest.folder(in: $0.directory, checkpointId: nextId), stopsJob: $0.stopsJob)
        }
        let barrier = CheckpointBarrier(checkpointId: nextId, timestamp: now, isFinal: isFinal, savepoint: target)
        nextId += 1
        if savepoint == nil {
            requested = false
            lastTriggerAt = now
        }
        pending.append(Pending(barrier: barrier, startedAt: now, remaining: Set(tasks.map(\.key)), savepoint: savepoint))
        if let target {
            logger.info("Triggering \(target.stopsJob ? "stop-with-" : "")savepoint \(barrier.checkpointId) into \(target.path).")
        } else {
            logger.debug("Triggering \(isFinal ? "final " : "")checkpoint \(barrier.checkpointId).")
        }
        for task in tasks where task.isSource { task.inbox.post(.triggerCheckpoint(barrier)) }
    }

    /// Lock held.
    private func abort(_ p: Pending, reason: String) {
        let id = p.barrier.checkpointId
        lastEndedAt = clock.nowMillis()
        logger.warning("Checkpoint \(id) aborted: \(reason). The last completed checkpoint stays valid; transactions pre-committed for it are committed with the next completed one.")
        metrics.jobCounter("sluice_checkpoints_aborted_total").increment()
        if let target = p.barrier.savepoint {
            try? FileManager.default.removeItem(atPath: target.path)
            p.savepoint?.finish(.failure(.aborted(checkpointId: id, reason: reason)))
        } else {
            storage.discard(checkpointId: id)
        }
        for task in tasks { task.inbox.post(.notifyCheckpointAborted(id)) }
    }

    private enum Outcome {
        case completed
        case aborted
        case failed(any Error)
    }

    /// Lock NOT held: writes the metadata (the checkpoint is then complete) and notifies tasks.
    private func complete(_ p: Pending) -> Outcome {
        let id = p.barrier.checkpointId
        do {
            try faultInjector.hit(.beforeCheckpointComplete, checkpointId: id)
        } catch {
            return .failed(error)
        }
        var byOperator: [String: [OperatorSubtaskStateHandle]] = [:]
        for (_, states) in p.states {
            for (operatorID, handle) in states { byOperator[operatorID, default: []].append(handle) }
        }
        let operators = byOperator.keys.sorted().map { operatorID -> OperatorCheckpointState in
            let vertex = vertices[operatorID] ?? (0, KeyGroups.defaultMaxParallelism)
            let subtasks = (byOperator[operatorID] ?? []).sorted { $0.subtaskIndex < $1.subtaskIndex }
            return OperatorCheckpointState(
                operatorID: operatorID, parallelism: vertex.parallelism, maxParallelism: vertex.maxParallelism, subtasks: subtasks)
        }
        let target = p.barrier.savepoint
        let metadata = CheckpointMetadata(
            checkpointId: id, timestamp: p.barrier.timestamp, isFinal: p.barrier.isFinal,
            kind: target == nil ? .checkpoint : .savepoint, operators: operators)
        do {
            try Self.storage(for: p.barrier, default: storage).commit(metadata)
            // Before any sink commits the stop's transactions: a restart must resume from here.
            if let target, target.stopsJob { try storage.recordStopSavepoint(path: target.path) }
        } catch {
            condition.lock()
            abort(p, reason: "writing its metadata failed: \(error)")
            condition.unlock()
            return .aborted
        }
        let duration = clock.nowMillis() - p.startedAt
        metrics.checkpointDuration.recordMilliseconds(duration)
        metrics.checkpointSize.record(Int64(clamping: metadata.totalStateBytes))
        metrics.jobCounter("sluice_checkpoints_completed_total").increment()
        history?.record(CompletedSnapshotSummary(
            id: id, isSavepoint: target != nil, durationMillis: duration, totalBytes: Int64(clamping: metadata.totalStateBytes),
            writtenBytes: Int64(clamping: metadata.writtenStateBytes), completedAtMillis: Int64(Date().timeIntervalSince1970 * 1000),
            path: target?.path))
        if let target {
            logger.info("Savepoint \(id) complete at \(target.path) (\(metadata.totalStateBytes) bytes, \(duration) ms).")
            if !target.stopsJob {
                // Like Flink (1.15+), an intermediate savepoint commits no side effects: its
                // pre-committed transactions stay pending and are committed by the next checkpoint,
                // so a failover to the previous checkpoint never sees them committed.
                p.savepoint?.finish(.success(target.path))
                return .completed
            }
        } else {
            condition.lock()
            lastEndedAt = clock.nowMillis()
            completedCount += 1
            lastCompletedId = id
            condition.unlock()
            logger.info("Checkpoint \(id) complete (\(metadata.totalStateBytes) bytes, \(metadata.writtenStateBytes) of them written now, \(duration) ms).")
            onCompleted?(id, duration, Int64(clamping: metadata.totalStateBytes))
            storage.retainLatest(config.retainedCheckpoints, logger: logger)
        }
        defer { if let target { p.savepoint?.finish(.success(target.path)) } }
        do {
            try faultInjector.hit(.afterCheckpointCompleteBeforeCommit, checkpointId: id)
            try notifyComplete(id)
            try faultInjector.hit(.afterCommit, checkpointId: id)
        } catch {
            return .failed(error)
        }
        return .completed
    }

    /// Where the state of `barrier` goes: a savepoint's own folder, or the checkpoint storage.
    static func storage(for barrier: CheckpointBarrier, default storage: any CheckpointStorage) -> any CheckpointStorage {
        guard let target = barrier.savepoint else { return storage }
        return FileSystemCheckpointStorage(snapshotFolder: target.path)
    }

    /// Notifies every task; tasks with committing sinks one at a time, in (chain, subtask) order,
    /// waiting for each, so that `betweenSubtaskCommits` falls between two subtasks' commits.
    private func notifyComplete(_ id: Int64) throws {
        let all = condition.locked { tasks }
        for task in all where !task.commitsOnComplete { task.inbox.post(.notifyCheckpointComplete(id)) }
        let committing = all.filter(\.commitsOnComplete).sorted { ($0.key.chain, $0.key.subtask) < ($1.key.chain, $1.key.subtask) }
        for (i, task) in committing.enumerated() {
            let completion = MailCompletion()
            task.inbox.post(.notifyCheckpointComplete(id), completion: completion)
            guard completion.wait() else { return }
            if i == 0 { try faultInjector.hit(.betweenSubtaskCommits, checkpointId: id) }
        }
    }
}

extension NSCondition {
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
