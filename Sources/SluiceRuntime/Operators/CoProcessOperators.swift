import Logging

/// One element of a two-input operator. A two-input operator is a one-input vertex whose input
/// edges each carry one side, tagged by a map chained behind that side's producer, so watermarks
/// (min over every channel of both sides), barrier alignment and end of input work as for union.
enum CoInput<First: Sendable, Second: Sendable>: Sendable {
    case first(First)
    case second(Second)
}

/// Identity, time and operator state for a non-keyed two-input function.
public final class CoProcessContext {
    public let subtaskIndex: Int
    public let parallelism: Int
    public let logger: Logger
    public let operatorStateStore: OperatorStateStore
    /// Timestamp of the element being processed.
    public internal(set) var timestamp: Int64?
    /// The operator's watermark: the minimum over both inputs.
    public internal(set) var currentWatermark: Int64 = Watermark.min
    let sideOutputs: SideOutputs

    init(setup: OperatorSetup, operatorStateStore: OperatorStateStore) {
        sideOutputs = setup.sideOutputs
        subtaskIndex = setup.subtaskIndex
        parallelism = setup.parallelism
        logger = setup.logger
        self.operatorStateStore = operatorStateStore
    }

    /// Emits `value` to the side output `tag`, with the timestamp of the element.
    public func output<T: Sendable>(_ tag: OutputTag<T>, _ value: T) throws {
        try sideOutputs.emit(tag, value, timestamp: timestamp)
    }
}

/// A function over two connected streams (Flink's CoProcessFunction). One instance per subtask.
public protocol CoProcessFunction: AnyObject, SendableMetatype {
    associatedtype Input1: Sendable
    associatedtype Input2: Sendable
    associatedtype Output: Sendable
    func open(_ context: CoProcessContext) throws
    func processElement1(_ value: Input1, context: CoProcessContext, out: Collector<Output>) throws
    func processElement2(_ value: Input2, context: CoProcessContext, out: Collector<Output>) throws
    func close() throws
}

extension CoProcessFunction {
    public func open(_ context: CoProcessContext) throws {}
    public func close() throws {}
}

/// A function over two connected keyed streams with keyed state and timers (Flink's
/// KeyedCoProcessFunction): elements of both sides with equal keys share state and timers.
public protocol KeyedCoProcessFunction: AnyObject, SendableMetatype {
    associatedtype Key: StateKey
    associatedtype Input1: Sendable
    associatedtype Input2: Sendable
    associatedtype Output: Sendable
    func open(_ context: KeyedContext<Key>) throws
    func processElement1(_ value: Input1, context: KeyedContext<Key>, out: Collector<Output>) throws
    func processElement2(_ value: Input2, context: KeyedContext<Key>, out: Collector<Output>) throws
    func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws
    func close() throws
}

extension KeyedCoProcessFunction {
    public func open(_ context: KeyedContext<Key>) throws {}
    public func onTimer(_ timestamp: Int64, context: KeyedContext<Key>, out: Collector<Output>) throws {}
    public func close() throws {}
}

/// `ConnectedStreams.map`: one function per side (Flink's CoMapFunction).
final class CoMapFunction<Input1: Sendable, Input2: Sendable, Output: Sendable>: CoProcessFunction {
    let map1: @Sendable (Input1) throws -> Output
    let map2: @Sendable (Input2) throws -> Output

    init(map1: @escaping @Sendable (Input1) throws -> Output, map2: @escaping @Sendable (Input2) throws -> Output) {
        self.map1 = map1
        self.map2 = map2
    }

    func processElement1(_ value: Input1, context: CoProcessContext, out: Collector<Output>) throws { try out.collect(try map1(value)) }
    func processElement2(_ value: Input2, context: CoProcessContext, out: Collector<Output>) throws { try out.collect(try map2(value)) }
}

/// Runs a `CoProcessFunction`.
final class CoProcessOperator<F: CoProcessFunction>: OneInputOperator<CoInput<F.Input1, F.Input2>, F.Output> {
    let function: F
    private let collector: Collector<F.Output>
    private lazy var context = CoProcessContext(setup: setup, operatorStateStore: operatorStateStore)

    init(setup: OperatorSetup, output: Output<F.Output>, function: F) {
        self.function = function
        self.collector = Collector(output: output)
        super.init(setup: setup, output: output)
    }

    override func open() throws { try function.open(context) }

    override func processElement(_ value: CoInput<F.Input1, F.Input2>, timestamp: Int64?) throws {
        context.timestamp = timestamp
        collector.timestamp = timestamp
        switch value {
        case .first(let element): try function.processElement1(element, context: context, out: collector)
        case .second(let element): try function.processElement2(element, context: context, out: collector)
        }
    }

    override func processWatermark(_ watermark: Int64) throws {
        context.currentWatermark = watermark
        try super.processWatermark(watermark)
    }

    override func close(failed: Bool) {
        do { try function.close() } catch { setup.logger.warning("Closing the co-process function failed: \(error)") }
    }
}

/// Runs a `KeyedCoProcessFunction`: the key of each side comes from that side's key selector.
final class KeyedCoProcessOperator<F: KeyedCoProcessFunction>: KeyedFunctionOperator<F.Key, CoInput<F.Input1, F.Input2>, F.Output> {
    let function: F

    init(setup: OperatorSetup, output: Output<F.Output>, keySelector: @escaping @Sendable (CoInput<F.Input1, F.Input2>) -> F.Key, function: F) throws {
        self.function = function
        try super.init(setup: setup, output: output, keySelector: keySelector)
    }

    override func processKeyed(_ value: CoInput<F.Input1, F.Input2>, timestamp: Int64?) throws {
        let ctx = context(at: timestamp, domain: nil)
        switch value {
        case .first(let element): try function.processElement1(element, context: ctx, out: collector)
        case .second(let element): try function.processElement2(element, context: ctx, out: collector)
        }
    }

    override func openFunction(_ context: KeyedContext<F.Key>) throws { try function.open(context) }
    override func callOnTimer(_ timestamp: Int64, context: KeyedContext<F.Key>) throws {
        try function.onTimer(timestamp, context: context, out: collector)
    }
    override func closeFunction() throws { try function.close() }
    override var functionKind: String { "keyed co-process function" }
}
