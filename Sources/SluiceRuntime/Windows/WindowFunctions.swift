/// The result of a window for one key.
public struct WindowResult<Key: Sendable, Value: Sendable>: Sendable {
    public let key: Key
    public let window: TimeWindow
    public let value: Value

    public init(key: Key, window: TimeWindow, value: Value) {
        self.key = key
        self.window = window
        self.value = value
    }
}

extension WindowResult: Equatable where Key: Equatable, Value: Equatable {}
extension WindowResult: Hashable where Key: Hashable, Value: Hashable {}
extension WindowResult: Codable where Key: Codable, Value: Codable {}

/// Incremental aggregation of a window (Flink's AggregateFunction).
public protocol AggregateFunction<Input, Accumulator, Result>: Sendable {
    associatedtype Input
    associatedtype Accumulator
    associatedtype Result: Sendable
    func createAccumulator() -> Accumulator
    func add(_ value: Input, to accumulator: inout Accumulator)
    func result(_ accumulator: Accumulator) -> Result
}

/// An aggregate function that can combine two accumulators: needed by session windows, whose
/// windows merge.
public protocol MergeableAggregateFunction<Input, Accumulator, Result>: AggregateFunction {
    func merge(_ a: Accumulator, _ b: Accumulator) -> Accumulator
}

/// Processes all records of a window at once, with the window's metadata (Flink's
/// ProcessWindowFunction). Records are buffered in the window's state until it fires, so `Input`
/// must be `BinaryCodable` or `Codable`. One instance per parallel subtask (`process` evaluates
/// its argument once per subtask), used on that subtask's thread only.
public protocol ProcessWindowFunction<Key, Input, Output>: SendableMetatype {
    associatedtype Key: StateKey
    associatedtype Input
    associatedtype Output: Sendable
    func process(key: Key, context: ProcessWindowContext, elements: [Input], out: Collector<Output>) throws
}

/// A `ProcessWindowFunction` from a closure.
public struct ProcessWindowClosure<Key: StateKey, Input, Output: Sendable>: ProcessWindowFunction, Sendable {
    let body: @Sendable (Key, ProcessWindowContext, [Input], Collector<Output>) throws -> Void
    public init(_ body: @escaping @Sendable (Key, ProcessWindowContext, [Input], Collector<Output>) throws -> Void) {
        self.body = body
    }
    public func process(key: Key, context: ProcessWindowContext, elements: [Input], out: Collector<Output>) throws {
        try body(key, context, elements, out)
    }
}

/// The window being processed, the current time, and side outputs.
public final class ProcessWindowContext {
    public internal(set) var window = TimeWindow.global
    public internal(set) var currentWatermark: Int64 = Watermark.min
    public internal(set) var currentProcessingTime: Int64 = 0
    let sideOutputs: SideOutputs

    init(sideOutputs: SideOutputs) {
        self.sideOutputs = sideOutputs
    }

    /// Emits `value` to the side output `tag` (timestamp: the window's max timestamp).
    public func output<T>(_ tag: OutputTag<T>, _ value: T) throws {
        try sideOutputs.emit(tag, value, timestamp: window.maxTimestamp)
    }
}

/// Errors of windowed operators.
public enum WindowError: Error, CustomStringConvertible {
    case missingTimestamp(operatorID: String)
    case notMergeable(operatorID: String, what: String)
    case mergeBeforeWatermark(operatorID: String, window: TimeWindow)

    public var description: String {
        switch self {
        case .missingTimestamp(let id):
            return "Event-time window '\(id)' got a record without a timestamp: give the source a WatermarkStrategy with timestamps (withTimestampAssigner), or use processing-time windows."
        case .notMergeable(let id, let what):
            return "Window '\(id)' uses session (merging) windows but \(what) cannot merge: use a MergeableAggregateFunction, a trigger whose canMerge is true, or non-merging windows."
        case .mergeBeforeWatermark(let id, let window):
            return "Window '\(id)': merging produced \(window), whose end is already behind the watermark (or clock); this happens only with a custom assigner whose windows shrink."
        }
    }
}
