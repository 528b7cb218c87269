import Logging

/// What a key type must offer: equality for the heap state, a stable hash for key groups, and a
/// binary encoding for snapshots.
public typealias StateKey = Hashable & Sendable & BinaryCodable & StableHashable

/// Which clock a timer belongs to.
public enum TimeDomain: Sendable {
    case eventTime
    case processingTime
}

/// Keyed state, timers and identity for a keyed function, scoped to the current key.
public final class KeyedContext<Key: StateKey> {
    let backend: any KeyedStateBackend<Key>
    public let timerService: TimerService<Key>
    public let subtaskIndex: Int
    public let parallelism: Int
    public let logger: Logger
    public let operatorStateStore: OperatorStateStore
    /// Timestamp of the element being processed, or of the timer firing.
    public internal(set) var timestamp: Int64?
    let sideOutputs: SideOutputs
    /// Set while `onTimer` runs.
    public internal(set) var timeDomain: TimeDomain?

    /// Expiry queues of this operator's TTL states.
    let ttl: TtlCleanup<Key>
    /// Broadcast states of a keyed broadcast operator (read-only here); nil elsewhere.
    var broadcastStates: BroadcastStateStore?

    init(
        backend: any KeyedStateBackend<Key>, timerService: TimerService<Key>, ttl: TtlCleanup<Key>, setup: OperatorSetup,
        operatorStateStore: OperatorStateStore
    ) {
        self.backend = backend
        self.timerService = timerService
        self.ttl = ttl
        self.subtaskIndex = setup.subtaskIndex
        self.parallelism = setup.parallelism
        self.logger = setup.logger
        self.operatorStateStore = operatorStateStore
        self.sideOutputs = setup.sideOutputs
    }

    /// The key of the element or timer being processed.
    public var currentKey: Key {
        guard let key = backend.context.key else { preconditionFailure("currentKey was read outside of a keyed context.") }
        return key
    }

    /// Emits `value` to the side output `tag`, with the timestamp of the element or timer.
    public func output<T: Sendable>(_ tag: OutputTag<T>, _ value: T) throws {
        try sideOutputs.emit(tag, value, timestamp: timestamp)
    }

    // Value, list, map, reducing, aggregating and TTL states: KeyedContext+States.swift.
}

/// A function over a keyed stream with keyed state and timers (Flink's KeyedProcessFunction).
/// One instance per parallel subtask, used on that subtask's thread only.
public protocol KeyedProcessFunction: AnyObject, SendableMetatype {
    associatedtype Key: StateKey
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    /// Register state here.
    func open(_ context: KeyedContext<Key>) throws
    func processElement(_ value: Input, context: KeyedContext<Key>, out: Collector<Output>) throws
    func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws
    func close() throws
}

extension KeyedProcessFunction {
    public func open(_ context: KeyedContext<Key>) throws {}
    public func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws {}
    public func close() throws {}
}

/// Base of keyed operators: sets the current key per element, owns the heap keyed state and the
/// timers, fires event-time timers on watermarks and processing-time timers on the clock.
class KeyedOperator<Key: StateKey, In: Sendable, Out: Sendable>: OneInputOperator<In, Out> {
    let keySelector: @Sendable (In) -> Key
    let backend: any KeyedStateBackend<Key>
    /// `backend` when it is the heap backend: its key setter is specialised for the usual key
    /// types, which a call through the existential cannot reach without a metadata lookup.
    private let heapBackend: HeapKeyedStateBackend<Key>?
    let timers: TimerService<Key>
    let ttl: TtlCleanup<Key>
    private var currentWatermark = Watermark.min

    init(setup: OperatorSetup, output: Output<Out>, keySelector: @escaping @Sendable (In) -> Key) throws {
        self.keySelector = keySelector
        let range = setup.keyGroupRange
        let keySerializer = AnyStateSerializer(BinaryCodableSerializer<Key>())
        backend = try KeyedStateBackends.make(
            choice: setup.services.stateBackend, operatorID: setup.operatorID, subtaskIndex: setup.subtaskIndex,
            keyGroupRange: range, maxParallelism: setup.maxParallelism, keySerializer: keySerializer,
            restore: setup.restore.map { KeyedStateRestore(checkpointId: $0.checkpointId, blobs: $0.keyedBlobs, storage: $0.storage) })
        heapBackend = backend as? HeapKeyedStateBackend<Key>
        let eventTimers = try backend.registerTable("_timers_event", kind: .eventTimers) {
            TimerQueue<Key>(name: "_timers_event", kind: .eventTimers, keyGroupCount: range.count, keySerializer: keySerializer)
        }
        let processingTimers = try backend.registerTable("_timers_processing", kind: .processingTimers) {
            TimerQueue<Key>(name: "_timers_processing", kind: .processingTimers, keyGroupCount: range.count, keySerializer: keySerializer)
        }
        timers = TimerService(eventTimers: eventTimers, processingTimers: processingTimers, keyContext: backend.context, clock: setup.clock)
        ttl = TtlCleanup(
            context: backend.context, keyGroupRange: range, keySerializer: keySerializer, clock: setup.clock,
            registerQueue: { [backend] name, make in try backend.registerTable(name, kind: .processingTimers, make: make) },
            setCurrentKey: { [backend] key, keyGroup in backend.setCurrentKey(key, keyGroup: keyGroup) })
        super.init(setup: setup, output: output)
    }

    override func processElement(_ value: In, timestamp: Int64?) throws {
        if ttl.isActive { ttl.cleanupIncrementally() }
        let key = keySelector(value)
        if let heapBackend {
            // The heap backend's accessors never fail: no `throwIfFailed` either.
            heapBackend.setCurrentKey(key)
            try processKeyed(value, timestamp: timestamp)
            return
        }
        backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: setup.maxParallelism))
        try processKeyed(value, timestamp: timestamp)
        try backend.throwIfFailed()
    }

    func processKeyed(_ value: In, timestamp: Int64?) throws {}
    func onEventTimer(_ timestamp: Int64) throws {}
    func onProcessingTimer(_ timestamp: Int64) throws {}

    override func processWatermark(_ watermark: Int64) throws {
        guard watermark > currentWatermark else { return }
        currentWatermark = watermark
        timers.currentWatermark = watermark
        while let due = timers.eventTimers.popDue(atOrBefore: watermark) {
            backend.setCurrentKey(due.key, keyGroup: due.keyGroupIndex + backend.keyGroupRange.start)
            try onEventTimer(due.timestamp)
            try backend.throwIfFailed()
        }
        try output.emitWatermark(watermark)
    }

    override var nextProcessingTimer: Int64? { timers.processingTimers.nextTimestamp }

    override func fireProcessingTimers(now: Int64) throws {
        while let due = timers.processingTimers.popDue(atOrBefore: now) {
            backend.setCurrentKey(due.key, keyGroup: due.keyGroupIndex + backend.keyGroupRange.start)
            try onProcessingTimer(due.timestamp)
            try backend.throwIfFailed()
        }
    }

    override func snapshotState(checkpointId: Int64) throws -> OperatorSnapshot {
        // Expired TTL entries are never written into a snapshot.
        if ttl.isActive {
            ttl.cleanupAll()
            try backend.throwIfFailed()
        }
        let keyed = try backend.snapshot(checkpointId: checkpointId, storage: setup.services.snapshotStorage.storage)
        return OperatorSnapshot(
            operatorState: try operatorStateStore.snapshot(), keyedState: keyed.blob,
            keyGroupRange: backend.keyGroupRange, stateFiles: keyed.files)
    }
}

/// Base of the operators that run a user's keyed function (process, co-process, broadcast): one
/// `KeyedContext` and one collector per subtask, set up per element and per timer.
class KeyedFunctionOperator<Key: StateKey, In: Sendable, Out: Sendable>: KeyedOperator<Key, In, Out> {
    let collector: Collector<Out>
    private var context: KeyedContext<Key>?

    override init(setup: OperatorSetup, output: Output<Out>, keySelector: @escaping @Sendable (In) -> Key) throws {
        self.collector = Collector(output: output)
        try super.init(setup: setup, output: output, keySelector: keySelector)
    }

    /// The subtask's context, made on first use.
    func keyedContext() -> KeyedContext<Key> {
        if let context { return context }
        let made = KeyedContext(
            backend: backend, timerService: timers, ttl: ttl, setup: setup, operatorStateStore: operatorStateStore)
        prepareContext(made)
        context = made
        return made
    }

    /// The context for an element (`domain` nil) or a timer: its timestamp and the output's.
    func context(at timestamp: Int64?, domain: TimeDomain?) -> KeyedContext<Key> {
        let ctx = keyedContext()
        ctx.timestamp = timestamp
        ctx.timeDomain = domain
        collector.timestamp = domain == .processingTime ? nil : timestamp
        return ctx
    }

    override func open() throws { try openFunction(keyedContext()) }
    override func onEventTimer(_ timestamp: Int64) throws {
        try callOnTimer(timestamp, context: context(at: timestamp, domain: .eventTime))
    }
    override func onProcessingTimer(_ timestamp: Int64) throws {
        try callOnTimer(timestamp, context: context(at: timestamp, domain: .processingTime))
    }
    override func close(failed: Bool) {
        do { try closeFunction() } catch { setup.logger.warning("Closing the \(functionKind) failed: \(error)") }
    }

    // Overridden by each operator: the calls into its function.
    func prepareContext(_ context: KeyedContext<Key>) {}
    func openFunction(_ context: KeyedContext<Key>) throws {}
    func callOnTimer(_ timestamp: Int64, context: KeyedContext<Key>) throws {}
    func closeFunction() throws {}
    var functionKind: String { "keyed function" }
}

/// Runs a `KeyedProcessFunction`.
final class KeyedProcessOperator<F: KeyedProcessFunction>: KeyedFunctionOperator<F.Key, F.Input, F.Output> {
    let function: F

    init(setup: OperatorSetup, output: Output<F.Output>, keySelector: @escaping @Sendable (F.Input) -> F.Key, function: F) throws {
        self.function = function
        try super.init(setup: setup, output: output, keySelector: keySelector)
    }

    override func processKeyed(_ value: F.Input, timestamp: Int64?) throws {
        try function.processElement(value, context: context(at: timestamp, domain: nil), out: collector)
    }

    override func openFunction(_ context: KeyedContext<F.Key>) throws { try function.open(context) }
    override func callOnTimer(_ timestamp: Int64, context: KeyedContext<F.Key>) throws {
        try function.onTimer(timestamp, context: context, out: collector)
    }
    override func closeFunction() throws { try function.close() }
    override var functionKind: String { "keyed process function" }
}
