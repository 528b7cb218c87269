import Logging

/// What both sides of a broadcast function see: identity, time and side outputs.
public class BroadcastContextBase {
    let states: BroadcastStateStore
    public let subtaskIndex: Int
    public let parallelism: Int
    public let logger: Logger
    /// Timestamp of the element being processed.
    public internal(set) var timestamp: Int64?
    /// The operator's watermark: the minimum over both inputs.
    public internal(set) var currentWatermark: Int64 = Watermark.min

    let sideOutputs: SideOutputs

    init(states: BroadcastStateStore, setup: OperatorSetup) {
        self.states = states
        subtaskIndex = setup.subtaskIndex
        parallelism = setup.parallelism
        logger = setup.logger
        sideOutputs = setup.sideOutputs
    }

    /// Emits `value` to the side output `tag`, with the timestamp of the element.
    public func output<T: Sendable>(_ tag: OutputTag<T>, _ value: T) throws {
        try sideOutputs.emit(tag, value, timestamp: timestamp)
    }
}

/// What `processBroadcastElement` gets: read-write broadcast state.
public final class BroadcastContext: BroadcastContextBase {
    /// A declared broadcast state; every subtask applies the same broadcast elements to its copy.
    public func broadcastState<K: Hashable, V>(_ descriptor: MapStateDescriptor<K, V>) throws -> BroadcastState<K, V> {
        try states.state(descriptor)
    }
}

/// What a non-keyed `processElement` gets: read-only broadcast state.
public final class ReadOnlyBroadcastContext: BroadcastContextBase {
    public func broadcastState<K: Hashable, V>(_ descriptor: MapStateDescriptor<K, V>) throws -> ReadOnlyBroadcastState<K, V> {
        ReadOnlyBroadcastState(try states.state(descriptor))
    }
}

/// A keyed stream connected to a broadcast stream (Flink's KeyedBroadcastProcessFunction):
/// `processElement` sees keyed state, timers and READ-ONLY broadcast state
/// (`context.broadcastState(descriptor)`); `processBroadcastElement` writes the broadcast state.
public protocol KeyedBroadcastProcessFunction: AnyObject, SendableMetatype {
    associatedtype Key: StateKey
    associatedtype Input: Sendable
    associatedtype BroadcastInput: Sendable
    associatedtype Output: Sendable
    func open(_ context: KeyedContext<Key>) throws
    func processElement(_ value: Input, context: KeyedContext<Key>, out: Collector<Output>) throws
    func processBroadcastElement(_ value: BroadcastInput, context: BroadcastContext, out: Collector<Output>) throws
    func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws
    func close() throws
}

extension KeyedBroadcastProcessFunction {
    public func open(_ context: KeyedContext<Key>) throws {}
    public func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws {}
    public func close() throws {}
}

/// A non-keyed stream connected to a broadcast stream (Flink's BroadcastProcessFunction).
public protocol BroadcastProcessFunction: AnyObject, SendableMetatype {
    associatedtype Input: Sendable
    associatedtype BroadcastInput: Sendable
    associatedtype Output: Sendable
    func processElement(_ value: Input, context: ReadOnlyBroadcastContext, out: Collector<Output>) throws
    func processBroadcastElement(_ value: BroadcastInput, context: BroadcastContext, out: Collector<Output>) throws
    func close() throws
}

extension BroadcastProcessFunction {
    public func close() throws {}
}

/// Runs a `KeyedBroadcastProcessFunction`. Broadcast elements carry no key: they bypass the
/// keyed path (no current key is set), so only broadcast state is writable there.
final class KeyedBroadcastProcessOperator<F: KeyedBroadcastProcessFunction>:
    KeyedFunctionOperator<F.Key, CoInput<F.Input, F.BroadcastInput>, F.Output>
{
    let function: F
    private let declared: [String]
    private lazy var broadcastStates = BroadcastStateStore(store: operatorStateStore, declared: declared)
    private lazy var broadcastContext = BroadcastContext(states: broadcastStates, setup: setup)

    init(
        setup: OperatorSetup, output: Output<F.Output>, keySelector: @escaping @Sendable (F.Input) -> F.Key,
        declared: [String], function: F
    ) throws {
        self.function = function
        // The broadcast side is sent over a broadcast edge and handled before the keyed path
        // (processElement below), so this selector only ever sees the keyed side.
        let selector: @Sendable (CoInput<F.Input, F.BroadcastInput>) -> F.Key = { element in
            switch element {
            case .first(let value): return keySelector(value)
            case .second: preconditionFailure("A broadcast element reached the keyed path of a broadcast operator.")
            }
        }
        self.declared = declared
        try super.init(setup: setup, output: output, keySelector: selector)
    }

    override func prepareContext(_ context: KeyedContext<F.Key>) { context.broadcastStates = broadcastStates }

    override func processElement(_ value: CoInput<F.Input, F.BroadcastInput>, timestamp: Int64?) throws {
        guard case .second(let element) = value else {
            try super.processElement(value, timestamp: timestamp)
            return
        }
        broadcastContext.timestamp = timestamp
        collector.timestamp = timestamp
        try function.processBroadcastElement(element, context: broadcastContext, out: collector)
    }

    override func processKeyed(_ value: CoInput<F.Input, F.BroadcastInput>, timestamp: Int64?) throws {
        guard case .first(let element) = value else { return }
        try function.processElement(element, context: context(at: timestamp, domain: nil), out: collector)
    }

    override func processWatermark(_ watermark: Int64) throws {
        broadcastContext.currentWatermark = watermark
        try super.processWatermark(watermark)
    }

    override func openFunction(_ context: KeyedContext<F.Key>) throws { try function.open(context) }
    override func callOnTimer(_ timestamp: Int64, context: KeyedContext<F.Key>) throws {
        try function.onTimer(timestamp, context: context, out: collector)
    }
    override func closeFunction() throws { try function.close() }
    override var functionKind: String { "keyed broadcast function" }
}

/// Runs a `BroadcastProcessFunction`.
final class BroadcastProcessOperator<F: BroadcastProcessFunction>: OneInputOperator<CoInput<F.Input, F.BroadcastInput>, F.Output> {
    let function: F
    private let collector: Collector<F.Output>
    private let declared: [String]
    private lazy var broadcastStates = BroadcastStateStore(store: operatorStateStore, declared: declared)
    private lazy var broadcastContext = BroadcastContext(states: broadcastStates, setup: setup)
    private lazy var readOnlyContext = ReadOnlyBroadcastContext(states: broadcastStates, setup: setup)

    init(setup: OperatorSetup, output: Output<F.Output>, declared: [String], function: F) {
        self.function = function
        self.collector = Collector(output: output)
        self.declared = declared
        super.init(setup: setup, output: output)
    }

    override func processElement(_ value: CoInput<F.Input, F.BroadcastInput>, timestamp: Int64?) throws {
        collector.timestamp = timestamp
        switch value {
        case .first(let element):
            readOnlyContext.timestamp = timestamp
            try function.processElement(element, context: readOnlyContext, out: collector)
        case .second(let element):
            broadcastContext.timestamp = timestamp
            try function.processBroadcastElement(element, context: broadcastContext, out: collector)
        }
    }

    override func processWatermark(_ watermark: Int64) throws {
        broadcastContext.currentWatermark = watermark
        readOnlyContext.currentWatermark = watermark
        try super.processWatermark(watermark)
    }

    override func close(failed: Bool) {
        do { try function.close() } catch { setup.logger.warning("Closing the broadcast function failed: \(error)") }
    }
}
