/// The checkpoint protocol as one pure state machine (Flink's CheckpointCoordinator with its
/// PendingCheckpoint and CompletedCheckpointStore). Read this file to learn the protocol:
///
/// 1. **Trigger.** Checkpoint N starts when it is due (`interval` after the last trigger and
///    `minPause` after the last one ended), when a task or the job asked for one, for a savepoint,
///    or as the final checkpoint once every source ended. At most `maxConcurrentCheckpoints` are
///    pending; savepoints and the final checkpoint wait until none is, and nothing starts while one
///    of them is pending. Effect: `.trigger(barrier)` (the barrier goes to every source).
/// 2. **Acknowledge.** Every task acknowledges N with its state handles, or declines it.
/// 3. **Complete, in id order.** The oldest fully acknowledged checkpoint completes; pending ones
///    older than it are aborted as subsumed (its state covers them). Effect: `.writeMetadata` (and,
///    for a stop-with-savepoint, the pointer to it, before any sink commits); the driver answers
///    with `metadataWritten` or `metadataFailed`. Then: `.completed` (statistics, retention),
///    `.notifyComplete(N)` (sinks commit everything up to N; an intermediate savepoint commits
///    nothing), `.finishSavepoint`, and after a final checkpoint or stop-with-savepoint `.endJob`.
/// 4. **Abort.** A decline, a timeout (`timeout` after its trigger), a subsumption or a failed
///    metadata write aborts N: `.abort` (its files are removed, tasks are told); N-1 stays valid.
///    Declines for a failure, timeouts and failed metadata writes of checkpoints (not savepoints)
///    count as failed checkpoints; more than `tolerableFailures` in a row (Flink's tolerable
///    checkpoint failures) end in `.failJob`. A completed checkpoint resets the count.
///
/// It does no I/O and reads no clock: every event carries `now`, and the caller
/// (`CheckpointCoordinatorDriver`) carries out the effects in order.
struct CheckpointCoordinator {
    /// One checkpoint in flight: who still has to acknowledge and what they sent.
    struct PendingCheckpoint {
        let barrier: CheckpointBarrier
        let startedAt: Int64
        var remaining: Set<TaskKey>
        var states: [TaskKey: [String: OperatorSubtaskStateHandle]] = [:]
        let savepoint: SavepointRequest?
        var id: Int64 { barrier.checkpointId }
        var isFullyAcknowledged: Bool { remaining.isEmpty }
    }

    /// A checkpoint whose metadata was written: it is the job's restore point (or a savepoint).
    struct CompletedCheckpoint {
        let metadata: CheckpointMetadata
        let durationMillis: Int64
        let savepointPath: String?
    }

    enum Effect {
        /// Post the barrier to every source task.
        case trigger(CheckpointBarrier)
        /// Write `metadata` (this completes the checkpoint); for a stop-with-savepoint also record
        /// `stopSavepointPointer` before anything commits. Answer with `metadataWritten`/`metadataFailed`.
        case writeMetadata(CheckpointMetadata, barrier: CheckpointBarrier, stopSavepointPointer: String?)
        /// Statistics and (checkpoints only) retention of older checkpoints.
        case completed(CompletedCheckpoint)
        /// Tell every task that every checkpoint up to the id is complete: sinks commit.
        case notifyComplete(Int64)
        /// Remove the checkpoint's files (or the savepoint's folder) and tell every task.
        case abort(id: Int64, reason: String, savepointPath: String?)
        case finishSavepoint(SavepointRequest, Result<String, SavepointError>)
        /// The final checkpoint or stop-with-savepoint is committed: sources end, the coordinator stops.
        case endJob(stoppedWithSavepoint: String?)
        /// Too many checkpoints failed in a row: the job must fail with this error.
        case failJob(CheckpointFailuresExceeded)
    }

    let config: CheckpointConfig
    private let tasks: Set<TaskKey>
    private let sources: Set<TaskKey>
    private let vertices: [String: (parallelism: Int, maxParallelism: Int)]
    /// Names a fresh savepoint folder for a checkpoint id (injected: the default looks at the disk).
    private let savepointFolder: (_ directory: String, _ checkpointId: Int64) -> String

    private var nextId: Int64
    /// Ascending id.
    private(set) var pending: [PendingCheckpoint] = []
    /// Written out, waiting for `metadataWritten`/`metadataFailed`.
    private var completing: (checkpoint: PendingCheckpoint, metadata: CheckpointMetadata)?
    private var savepointRequests: [SavepointRequest] = []
    private var requested = false
    private var lastTriggerAt: Int64
    /// When the last checkpoint completed or was aborted: the minimum pause runs from there.
    private var lastEndedAt: Int64?
    private var finishedSources: Set<TaskKey> = []
    private(set) var lastCompletedId: Int64?
    /// Checkpoints that failed since the last one completed.
    private(set) var consecutiveFailures = 0
    /// The final checkpoint or stop-with-savepoint completed: nothing more happens.
    private(set) var isDone = false

    init(
        config: CheckpointConfig, tasks: [TaskKey], sources: Set<TaskKey>, vertices: [JobVertex], firstCheckpointId: Int64,
        now: Int64, savepointFolder: @escaping (_ directory: String, _ checkpointId: Int64) -> String = SavepointRequest.folder
    ) {
        self.config = config
        self.tasks = Set(tasks)
        self.sources = sources
        var byName: [String: (Int, Int)] = [:]
        for vertex in vertices { byName[vertex.name] = (vertex.parallelism, vertex.maxParallelism) }
        self.vertices = byName
        self.savepointFolder = savepointFolder
        self.nextId = firstCheckpointId
        self.lastTriggerAt = now
    }

    // MARK: events

    mutating func checkpointRequested() { requested = true }

    mutating func savepointRequested(_ request: SavepointRequest) -> [Effect] {
        guard !isDone else { return [.finishSavepoint(request, .failure(.jobEnded))] }
        savepointRequests.append(request)
        return []
    }

    mutating func sourceFinished(_ task: TaskKey) { finishedSources.insert(task) }

    mutating func acknowledged(_ id: Int64, by task: TaskKey, states: [String: OperatorSubtaskStateHandle]) {
        guard let i = pending.firstIndex(where: { $0.id == id }) else { return }
        pending[i].remaining.remove(task)
        pending[i].states[task] = states
    }

    /// `isFailure` false: the task could not align the barrier because of something else (an
    /// input ended, or skipped the barrier of a checkpoint aborted elsewhere), not a failure.
    mutating func declined(_ id: Int64, by task: TaskKey, reason: String, isFailure: Bool = true, now: Int64) -> [Effect] {
        guard let i = pending.firstIndex(where: { $0.id == id }) else { return [] }
        return abort(pending.remove(at: i), reason: "\(task) declined: \(reason)", isFailure: isFailure, now: now)
    }

    /// Time passed: abort what timed out, complete the oldest fully acknowledged checkpoint, or
    /// trigger what is due. Call again after `metadataWritten`/`metadataFailed` until it returns nothing.
    mutating func tick(now: Int64) -> [Effect] {
        guard !isDone, completing == nil else { return [] }
        var effects: [Effect] = []
        while let i = pending.firstIndex(where: { now - $0.startedAt >= config.timeoutMillis }) {
            effects += abort(pending.remove(at: i), reason: "timed out after \(config.timeoutMillis) ms", isFailure: true, now: now)
        }
        if let index = pending.firstIndex(where: \.isFullyAcknowledged) {
            let checkpoint = pending[index]
            let subsumed = pending[..<index]
            pending.removeFirst(index + 1)
            for old in subsumed {
                effects += abort(old, reason: "subsumed by checkpoint \(checkpoint.id), which completed first", now: now)
            }
            let metadata = metadata(of: checkpoint)
            completing = (checkpoint, metadata)
            let target = checkpoint.barrier.savepoint
            effects.append(.writeMetadata(
                metadata, barrier: checkpoint.barrier,
                stopSavepointPointer: target?.stopsJob == true ? target?.path : nil))
            return effects
        }
        if let barrier = triggerIfDue(now: now) { effects.append(.trigger(barrier)) }
        return effects
    }

    /// The metadata is durable: the checkpoint is complete.
    mutating func metadataWritten(_ id: Int64, now: Int64) -> [Effect] {
        guard let (checkpoint, metadata) = completing, checkpoint.id == id else { return [] }
        completing = nil
        let target = checkpoint.barrier.savepoint
        let done = CompletedCheckpoint(
            metadata: metadata, durationMillis: now - checkpoint.startedAt, savepointPath: target?.path)
        var effects: [Effect] = [.completed(done)]
        if let target, let request = checkpoint.savepoint, !target.stopsJob {
            // Like Flink (1.15+), an intermediate savepoint commits no side effects: its
            // pre-committed transactions stay pending and are committed by the next checkpoint,
            // so a failover to the previous checkpoint never sees them committed.
            return effects + [.finishSavepoint(request, .success(target.path))]
        }
        if target == nil {
            lastEndedAt = now
            lastCompletedId = id
            consecutiveFailures = 0
        }
        effects.append(.notifyComplete(id))
        if let target, let request = checkpoint.savepoint { effects.append(.finishSavepoint(request, .success(target.path))) }
        if checkpoint.barrier.isFinal || target?.stopsJob == true {
            isDone = true
            effects.append(.endJob(stoppedWithSavepoint: target?.path))
        }
        return effects
    }

    mutating func metadataFailed(_ id: Int64, reason: String, now: Int64) -> [Effect] {
        guard let checkpoint = completing?.checkpoint, checkpoint.id == id else { return [] }
        completing = nil
        return abort(checkpoint, reason: "writing its metadata failed: \(reason)", isFailure: true, now: now)
    }

    /// The coordinator stops (the attempt ended): savepoints not taken fail.
    mutating func stopped() -> [Effect] {
        let unfinished = savepointRequests + (pending + [completing?.checkpoint].compactMap { $0 }).compactMap(\.savepoint)
        savepointRequests = []
        isDone = true
        return unfinished.map { .finishSavepoint($0, .failure(.jobEnded)) }
    }

    /// When `tick` next has something to do by the clock (nil: only events can change anything).
    func nextDeadline() -> Int64? {
        var deadline: Int64?
        if pending.count < config.effectiveMaxConcurrentCheckpoints {
            deadline = config.nextPeriodicTrigger(lastTriggerAt: lastTriggerAt, lastEndedAt: lastEndedAt)
        }
        for p in pending { deadline = min(deadline ?? Int64.max, p.startedAt + config.timeoutMillis) }
        return deadline
    }

    // MARK: transitions

    /// Savepoints and the final checkpoint wait until nothing is in flight, and nothing else starts
    /// while one of them is pending.
    private mutating func triggerIfDue(now: Int64) -> CheckpointBarrier? {
        guard !pending.contains(where: { $0.barrier.isFinal || $0.barrier.savepoint != nil }) else { return nil }
        let allSourcesFinished = !sources.isEmpty && finishedSources.isSuperset(of: sources)
        if !savepointRequests.isEmpty {
            guard pending.isEmpty else { return nil }
            return trigger(now: now, isFinal: false, savepoint: savepointRequests.removeFirst())
        }
        if allSourcesFinished {
            guard pending.isEmpty else { return nil }
            return trigger(now: now, isFinal: true, savepoint: nil)
        }
        let periodicDue = config.nextPeriodicTrigger(lastTriggerAt: lastTriggerAt, lastEndedAt: lastEndedAt).map { now >= $0 } ?? false
        guard pending.count < config.effectiveMaxConcurrentCheckpoints, requested || periodicDue else { return nil }
        return trigger(now: now, isFinal: false, savepoint: nil)
    }

    private mutating func trigger(now: Int64, isFinal: Bool, savepoint: SavepointRequest?) -> CheckpointBarrier {
        let target = savepoint.map {
            SavepointTarget(path: savepointFolder($0.directory, nextId), stopsJob: $0.stopsJob)
        }
        let barrier = CheckpointBarrier(checkpointId: nextId, timestamp: now, isFinal: isFinal, savepoint: target)
        nextId += 1
        if savepoint == nil {
            requested = false
            lastTriggerAt = now
        }
        pending.append(PendingCheckpoint(barrier: barrier, startedAt: now, remaining: tasks, savepoint: savepoint))
        return barrier
    }

    private mutating func abort(_ checkpoint: PendingCheckpoint, reason: String, isFailure: Bool = false, now: Int64) -> [Effect] {
        lastEndedAt = now
        var effects: [Effect] = [.abort(id: checkpoint.id, reason: reason, savepointPath: checkpoint.barrier.savepoint?.path)]
        if let request = checkpoint.savepoint {
            effects.append(.finishSavepoint(request, .failure(.aborted(checkpointId: checkpoint.id, reason: reason))))
        } else if isFailure && !isDone {
            consecutiveFailures += 1
            if consecutiveFailures > config.tolerableFailures {
                isDone = true
                effects.append(.failJob(CheckpointFailuresExceeded(
                    checkpointId: checkpoint.id, reason: reason, consecutiveFailures: consecutiveFailures,
                    tolerable: config.tolerableFailures, lastCompletedId: lastCompletedId)))
            }
        }
        return effects
    }

    private func metadata(of checkpoint: PendingCheckpoint) -> CheckpointMetadata {
        var byOperator: [String: [OperatorSubtaskStateHandle]] = [:]
        for states in checkpoint.states.values {
            for (operatorID, handle) in states { byOperator[operatorID, default: []].append(handle) }
        }
        let operators = byOperator.keys.sorted().map { operatorID -> OperatorCheckpointState in
            let vertex = vertices[operatorID] ?? (0, KeyGroups.defaultMaxParallelism)
            let subtasks = (byOperator[operatorID] ?? []).sorted { $0.subtaskIndex < $1.subtaskIndex }
            return OperatorCheckpointState(
                operatorID: operatorID, parallelism: vertex.parallelism, maxParallelism: vertex.maxParallelism, subtasks: subtasks)
        }
        return CheckpointMetadata(
            checkpointId: checkpoint.id, timestamp: checkpoint.barrier.timestamp, isFinal: checkpoint.barrier.isFinal,
            kind: checkpoint.barrier.savepoint == nil ? .checkpoint : .savepoint, operators: operators, owner: config.owner)
    }
}
