import Foundation
import Logging
import Metrics

/// Runs the `CheckpointCoordinator` state machine on the attempt's coordinator thread and carries
/// out its effects: writes metadata through `CheckpointStorage`, posts mail to tasks, passes the
/// crash points of the `FaultInjector`, and wakes the machine on the clock. Tasks and the job
/// call in from any thread; their events are queued and handed to the machine in order.
final class CheckpointCoordinatorDriver: @unchecked Sendable {
    // @unchecked: `events`, `machine` before `run`, `stopRequested`, `closed`, `lastCompletedId` and
    // `stopSavepointPath` are guarded by `condition`; once `run` took the machine, only the
    // coordinator thread touches it, and storage I/O and notification waits happen with the lock released.
    private enum Event {
        case checkpointRequested
        case savepointRequested(SavepointRequest)
        case acknowledged(Int64, TaskKey, [String: OperatorSubtaskStateHandle])
        case declined(Int64, TaskKey, String, isFailure: Bool)
        case sourceFinished(TaskKey)
    }

    private let condition = NSCondition()
    private let config: CheckpointConfig
    private let storage: any CheckpointStorage
    private let clock: any RuntimeClock
    private let logger: Logger
    private let metrics: RuntimeMetrics
    private let faultInjector: FaultInjector
    private let firstCheckpointId: Int64
    private let onFailure: @Sendable (any Error) -> Void
    /// Told of every completed checkpoint (not savepoints), for the job's status.
    private let onCompleted: (@Sendable (_ id: Int64, _ durationMillis: Int64, _ bytes: Int64) -> Void)?
    /// Told of every completed checkpoint and savepoint, for dashboards.
    private let history: CheckpointHistory?
    private var tasks: [CoordinatedTask] = []
    private var machine: CheckpointCoordinator?
    private var events: [Event] = []
    private var stopRequested = false
    /// The coordinator thread ended: new savepoint requests fail at once.
    private var closed = false
    private var lastCompletedId: Int64?
    private var stopSavepointPath: String?
    private var inFlightIds: [Int64] = []

    /// The last checkpoint this attempt completed.
    var lastCompleted: Int64? { condition.locked { lastCompletedId } }
    /// The path of the savepoint the job stopped with, once its commits were delivered.
    var stoppedWithSavepoint: String? { condition.locked { stopSavepointPath } }
    /// For tests: the ids of the checkpoints in flight, ascending.
    var inFlight: [Int64] { condition.locked { inFlightIds } }

    init(
        config: CheckpointConfig, storage: any CheckpointStorage, clock: any RuntimeClock, logger: Logger,
        metrics: RuntimeMetrics, faultInjector: FaultInjector, firstCheckpointId: Int64,
        onFailure: @escaping @Sendable (any Error) -> Void,
        onCompleted: (@Sendable (_ id: Int64, _ durationMillis: Int64, _ bytes: Int64) -> Void)? = nil,
        history: CheckpointHistory? = nil
    ) {
        self.history = history
        self.config = config
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.faultInjector = faultInjector
        self.firstCheckpointId = firstCheckpointId
        self.onFailure = onFailure
        self.onCompleted = onCompleted
    }

    func register(tasks: [CoordinatedTask], vertices: [JobVertex]) {
        let machine = CheckpointCoordinator(
            config: config, tasks: tasks.map(\.key), sources: Set(tasks.filter(\.isSource).map(\.key)), vertices: vertices,
            firstCheckpointId: firstCheckpointId, now: clock.nowMillis())
        condition.locked {
            self.tasks = tasks
            self.machine = machine
        }
    }

    // MARK: events from tasks and the job (any thread)

    func requestCheckpoint() { post(.checkpointRequested) }

    /// Queues a savepoint; taken as soon as no checkpoint is in flight. Fails it at once when the
    /// coordinator already ended.
    func requestSavepoint(_ request: SavepointRequest) {
        guard post(.savepointRequested(request)) else { return request.finish(.failure(.jobEnded)) }
    }

    func acknowledge(_ id: Int64, task: TaskKey, states: [String: OperatorSubtaskStateHandle]) {
        post(.acknowledged(id, task, states))
    }

    /// `isFailure` false: the barrier could not align for a reason that is not a failure of this
    /// task (it does not count towards the tolerable checkpoint failures).
    func decline(_ id: Int64, task: TaskKey, reason: String, isFailure: Bool = true) {
        post(.declined(id, task, reason, isFailure: isFailure))
    }

    func sourceFinished(_ task: TaskKey) { post(.sourceFinished(task)) }

    func stop() {
        condition.locked {
            stopRequested = true
            condition.broadcast()
        }
    }

    @discardableResult
    private func post(_ event: Event) -> Bool {
        condition.locked {
            guard !closed else { return false }
            events.append(event)
            condition.broadcast()
            return true
        }
    }

    // MARK: the coordinator thread

    /// Runs until stopped, failed, or the final checkpoint (or stop-with-savepoint) is committed.
    func run() {
        guard var machine = condition.locked({ self.machine }) else { return }
        var running = true
        while running {
            let (queued, stopping) = condition.locked { () -> ([Event], Bool) in
                defer { events = [] }
                return (events, stopRequested)
            }
            if stopping { break }
            for event in queued where running {
                running = carryOut(handle(event, machine: &machine), machine: &machine)
            }
            while running, case let effects = machine.tick(now: clock.nowMillis()), !effects.isEmpty {
                running = carryOut(effects, machine: &machine)
            }
            publish(machine)
            guard running else { break }
            condition.locked {
                if events.isEmpty && !stopRequested { _ = condition.wait(until: Date(timeIntervalSinceNow: waitSeconds(machine))) }
            }
        }
        let leftovers = condition.locked { () -> [Event] in
            closed = true
            defer { events = [] }
            return events
        }
        var unfinished = machine.stopped()
        for case .savepointRequested(let request) in leftovers { unfinished.append(.finishSavepoint(request, .failure(.jobEnded))) }
        _ = carryOut(unfinished, machine: &machine)
        publish(machine)
    }

    private func handle(_ event: Event, machine: inout CheckpointCoordinator) -> [CheckpointCoordinator.Effect] {
        switch event {
        case .checkpointRequested: machine.checkpointRequested()
        case .savepointRequested(let request): return machine.savepointRequested(request)
        case .acknowledged(let id, let task, let states): machine.acknowledged(id, by: task, states: states)
        case .declined(let id, let task, let reason, let isFailure):
            return machine.declined(id, by: task, reason: reason, isFailure: isFailure, now: clock.nowMillis())
        case .sourceFinished(let task): machine.sourceFinished(task)
        }
        return []
    }

    private func publish(_ machine: CheckpointCoordinator) {
        condition.locked {
            lastCompletedId = machine.lastCompletedId
            inFlightIds = machine.pending.map(\.id)
        }
    }

    private func waitSeconds(_ machine: CheckpointCoordinator) -> Double {
        guard clock.isRealTime else { return 0.005 }
        let millis = machine.nextDeadline().map { min(50, max(1, $0 - clock.nowMillis())) } ?? 50
        return Double(millis) / 1000
    }

    /// Carries out effects in order. Returns false when the coordinator must stop: the job ended,
    /// or a crash point fired (the job then fails; savepoints whose metadata is written still succeed).
    private func carryOut(_ effects: [CheckpointCoordinator.Effect], machine: inout CheckpointCoordinator) -> Bool {
        var failure: (any Error)?
        var ended = false
        for effect in effects {
            if failure != nil || ended {
                if case .finishSavepoint(let request, let result) = effect { request.finish(result) }
                continue
            }
            do {
                switch effect {
                case .trigger(let barrier):
                    if let target = barrier.savepoint {
                        logger.info("Triggering \(target.stopsJob ? "stop-with-" : "")savepoint \(barrier.checkpointId) into \(target.path).")
                    } else {
                        logger.debug("Triggering \(barrier.isFinal ? "final " : "")checkpoint \(barrier.checkpointId).")
                    }
                    for task in tasks where task.isSource { task.inbox.post(.triggerCheckpoint(barrier)) }
                case .writeMetadata(let metadata, let barrier, let pointer):
                    try faultInjector.hit(.beforeCheckpointComplete, checkpointId: metadata.checkpointId)
                    let next: [CheckpointCoordinator.Effect]
                    do {
                        try storage.destination(for: barrier).commit(metadata)
                        if let pointer { try storage.recordStopSavepoint(path: pointer) }
                        next = machine.metadataWritten(metadata.checkpointId, now: clock.nowMillis())
                    } catch {
                        next = machine.metadataFailed(metadata.checkpointId, reason: "\(error)", now: clock.nowMillis())
                    }
                    guard carryOut(next, machine: &machine) else { return false }
                case .completed(let completed):
                    record(completed)
                case .notifyComplete(let id):
                    try faultInjector.hit(.afterCheckpointCompleteBeforeCommit, checkpointId: id)
                    try notifyComplete(id)
                    try faultInjector.hit(.afterCommit, checkpointId: id)
                case .abort(let id, let reason, let savepointPath):
                    abort(id, reason: reason, savepointPath: savepointPath)
                case .finishSavepoint(let request, let result):
                    request.finish(result)
                case .failJob(let error):
                    logger.error("\(error)")
                    metrics.jobCounter("sluice_checkpoint_failures_exceeded_total").increment()
                    failure = error
                case .endJob(let stopSavepoint):
                    condition.locked { stopSavepointPath = stopSavepoint }
                    for task in tasks where task.isSource { task.inbox.post(.terminate) }
                    ended = true
                }
            } catch {
                failure = error
            }
        }
        if let failure {
            onFailure(failure)
            return false
        }
        return !ended
    }

    private func record(_ completed: CheckpointCoordinator.CompletedCheckpoint) {
        let metadata = completed.metadata
        let id = metadata.checkpointId
        metrics.checkpointDuration.recordMilliseconds(completed.durationMillis)
        metrics.checkpointSize.record(Int64(clamping: metadata.totalStateBytes))
        metrics.jobCounter("sluice_checkpoints_completed_total").increment()
        history?.record(CompletedSnapshotSummary(
            id: id, isSavepoint: completed.savepointPath != nil, durationMillis: completed.durationMillis,
            totalBytes: Int64(clamping: metadata.totalStateBytes), writtenBytes: Int64(clamping: metadata.writtenStateBytes),
            completedAtMillis: Int64(Date().timeIntervalSince1970 * 1000), path: completed.savepointPath))
        if let path = completed.savepointPath {
            logger.info("Savepoint \(id) complete at \(path) (\(metadata.totalStateBytes) bytes, \(completed.durationMillis) ms).")
            return
        }
        condition.locked { lastCompletedId = id }
        logger.info(
            "Checkpoint \(id) complete (\(metadata.totalStateBytes) bytes, \(metadata.writtenStateBytes) of them written now, \(completed.durationMillis) ms).")
        onCompleted?(id, completed.durationMillis, Int64(clamping: metadata.totalStateBytes))
        storage.retainLatest(config.retainedCheckpoints, logger: logger)
    }

    private func abort(_ id: Int64, reason: String, savepointPath: String?) {
        logger.warning(
            "Checkpoint \(id) aborted: \(reason). The last completed checkpoint stays valid; transactions pre-committed for it are committed with the next completed one.")
        metrics.jobCounter("sluice_checkpoints_aborted_total").increment()
        if let savepointPath {
            try? FileManager.default.removeItem(atPath: savepointPath)
        } else {
            storage.discard(checkpointId: id)
        }
        for task in tasks { task.inbox.post(.notifyCheckpointAborted(id)) }
    }

    /// Notifies every task. Tasks holding committing sinks are awaited, so that the job ends only
    /// after they committed: the first alone, then the rest together, so that the crash point
    /// `betweenSubtaskCommits` falls after exactly one subtask committed.
    private func notifyComplete(_ id: Int64) throws {
        for task in tasks where !task.commitsOnComplete { task.inbox.post(.notifyCheckpointComplete(id)) }
        let committing = tasks.filter(\.commitsOnComplete).sorted { ($0.key.chain, $0.key.subtask) < ($1.key.chain, $1.key.subtask) }
        guard let first = committing.first else { return }
        guard deliver(.notifyCheckpointComplete(id), to: [first]) else { return }
        try faultInjector.hit(.betweenSubtaskCommits, checkpointId: id)
        _ = deliver(.notifyCheckpointComplete(id), to: committing.dropFirst())
    }

    /// Posts `mail` to every task and waits until each processed it; false if any dropped it.
    private func deliver(_ mail: TaskMail, to recipients: some Collection<CoordinatedTask>) -> Bool {
        let completions = recipients.map { task in
            let completion = MailCompletion()
            task.inbox.post(mail, completion: completion)
            return completion
        }
        return completions.map { $0.wait() }.allSatisfy { $0 }
    }
}
