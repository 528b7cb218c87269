import Metrics

/// A time window [start, end).
public struct TimeWindow: Sendable, Hashable, Codable, CustomStringConvertible {
    public let start: Int64
    public let end: Int64
    /// The largest timestamp that belongs to the window.
    public var maxTimestamp: Int64 { end - 1 }
    public var description: String { "[\(start), \(end))" }
}

/// The result of a window for one key.
public struct WindowResult<Key: Sendable, Value: Sendable>: Sendable {
    public let key: Key
    public let window: TimeWindow
    public let value: Value
}

extension WindowResult: Equatable where Key: Equatable, Value: Equatable {}
extension WindowResult: Hashable where Key: Hashable, Value: Hashable {}
extension WindowResult: Codable where Key: Codable, Value: Codable {}

/// Assigns each record to one tumbling window.
public protocol WindowAssigner: Sendable {
    var sizeMillis: Int64 { get }
    var offsetMillis: Int64 { get }
    var domain: TimeDomain { get }
}

extension WindowAssigner {
    /// Flink's `TimeWindow.getWindowStartWithOffset`.
    func windowStart(for timestamp: Int64) -> Int64 {
        let remainder = (timestamp - offsetMillis) % sizeMillis
        return remainder < 0 ? timestamp - (remainder + sizeMillis) : timestamp - remainder
    }
}

/// Tumbling windows over event time: a window fires when the watermark passes its end.
public struct TumblingEventTimeWindows: WindowAssigner {
    public let sizeMillis: Int64
    public let offsetMillis: Int64
    public var domain: TimeDomain { .eventTime }
    public init(sizeMillis: Int64, offsetMillis: Int64 = 0) {
        self.sizeMillis = max(1, sizeMillis)
        self.offsetMillis = offsetMillis
    }
}

/// Tumbling windows over processing time: a record belongs to the window of the clock's time
/// when it is processed; the window fires when the clock passes its end. Windows still open
/// at end of input are not fired (as in Flink, processing-time timers do not fire then).
public struct TumblingProcessingTimeWindows: WindowAssigner {
    public let sizeMillis: Int64
    public let offsetMillis: Int64
    public var domain: TimeDomain { .processingTime }
    public init(sizeMillis: Int64, offsetMillis: Int64 = 0) {
        self.sizeMillis = max(1, sizeMillis)
        self.offsetMillis = offsetMillis
    }
}

/// Incremental aggregation of a window (Flink's AggregateFunction).
public protocol AggregateFunction<Input, Accumulator, Result>: Sendable {
    associatedtype Input
    associatedtype Accumulator
    associatedtype Result: Sendable
    func createAccumulator() -> Accumulator
    func add(_ value: Input, to accumulator: inout Accumulator)
    func result(_ accumulator: Accumulator) -> Result
}

/// Errors of windowed operators.
public enum WindowError: Error, CustomStringConvertible {
    case missingTimestamp(operatorID: String)
    public var description: String {
        switch self {
        case .missingTimestamp(let id):
            return "Event-time window '\(id)' got a record without a timestamp: give the source a WatermarkStrategy with timestamps (withTimestampAssigner), or use processing-time windows."
        }
    }
}

/// Keyed tumbling-window aggregation: one accumulator per (key, window) in map state, a timer at
/// the window's max timestamp; the result is emitted and the state cleared when the timer fires.
/// Records for a window the watermark already passed are dropped and counted.
final class WindowOperator<Key: StateKey, In: Sendable, Acc, Out: Sendable>: KeyedOperator<Key, In, WindowResult<Key, Out>> {
    let assigner: any WindowAssigner
    let fold: @Sendable (Acc?, In) -> Acc
    let finish: @Sendable (Acc) -> Out
    /// Replaced by the backend's state in init (the base class is an empty placeholder).
    private var windows = MapState<Int64, Acc>()
    private var lateDropped: Int64 = 0
    private var publishedLate: Int64 = 0
    private let lateCounter: Counter

    init(
        setup: OperatorSetup, output: Output<WindowResult<Key, Out>>, keySelector: @escaping @Sendable (In) -> Key,
        assigner: any WindowAssigner, fold: @escaping @Sendable (Acc?, In) -> Acc, finish: @escaping @Sendable (Acc) -> Out
    ) throws {
        self.assigner = assigner
        self.fold = fold
        self.finish = finish
        lateCounter = setup.metrics.counter("sluice_late_records_dropped_total", operatorID: setup.operatorID, subtask: setup.subtaskIndex)
        let accSerializer = try AnyStateSerializer<Acc>.automatic()
        try super.init(setup: setup, output: output, keySelector: keySelector)
        windows = try backend.mapState(MapStateDescriptor<Int64, Acc>(
            "window-contents", keySerializer: BinaryCodableSerializer<Int64>(), valueSerializer: accSerializer))
    }

    override func processKeyed(_ value: In, timestamp: Int64?) throws {
        let start: Int64
        switch assigner.domain {
        case .eventTime:
            guard let timestamp else { throw WindowError.missingTimestamp(operatorID: setup.operatorID) }
            start = assigner.windowStart(for: timestamp)
            if start + assigner.sizeMillis - 1 <= timers.currentWatermark {
                lateDropped += 1
                return
            }
        case .processingTime:
            start = assigner.windowStart(for: setup.clock.nowMillis())
        }
        let isNew = !windows.contains(start)
        windows.put(start, fold(windows.get(start), value))
        if isNew {
            let maxTimestamp = start + assigner.sizeMillis - 1
            switch assigner.domain {
            case .eventTime: timers.registerEventTimeTimer(maxTimestamp)
            case .processingTime: timers.registerProcessingTimeTimer(maxTimestamp)
            }
        }
    }

    override func onEventTimer(_ timestamp: Int64) throws { try fire(timestamp) }
    override func onProcessingTimer(_ timestamp: Int64) throws { try fire(timestamp) }

    private func fire(_ maxTimestamp: Int64) throws {
        let start = maxTimestamp + 1 - assigner.sizeMillis
        guard let accumulator = windows.get(start), let key = backend.context.key else { return }
        windows.remove(start)
        let window = TimeWindow(start: start, end: start + assigner.sizeMillis)
        try output.collect(WindowResult(key: key, window: window, value: finish(accumulator)), timestamp: maxTimestamp)
    }

    override func publishMetrics() {
        if lateDropped > publishedLate {
            lateCounter.increment(by: lateDropped - publishedLate)
            publishedLate = lateDropped
        }
    }

    var droppedLateRecords: Int64 { lateDropped }
}

/// A keyed stream cut into windows (Flink's WindowedStream).
public struct WindowedStream<Key: StateKey, T: Sendable> {
    let keyed: KeyedStream<Key, T>
    let assigner: any WindowAssigner

    func aggregated<Acc, Out: Sendable>(
        _ name: String, fold: @escaping @Sendable (Acc?, T) -> Acc, finish: @escaping @Sendable (Acc) -> Out
    ) -> DataStream<WindowResult<Key, Out>> {
        let selector = keyed.keySelector
        let assigner = self.assigner
        return keyed.keyedThen(name) { setup, output in
            try WindowOperator(setup: setup, output: output, keySelector: selector, assigner: assigner, fold: fold, finish: finish)
        }
    }

    /// Records per key and window.
    public func count(name: String = "WindowCount") -> DataStream<WindowResult<Key, Int>> {
        aggregated(name, fold: { (acc: Int?, _: T) in (acc ?? 0) + 1 }, finish: { $0 })
    }

    /// Combines the records of a key and window pairwise. `T` must be `BinaryCodable` or `Codable`
    /// (it is the window's checkpointed state).
    public func reduce(name: String = "WindowReduce", _ combine: @escaping @Sendable (T, T) -> T) -> DataStream<WindowResult<Key, T>> {
        aggregated(name, fold: { (acc: T?, value: T) in acc.map { combine($0, value) } ?? value }, finish: { $0 })
    }

    /// Aggregates incrementally; the accumulator must be `BinaryCodable` or `Codable`.
    public func aggregate<F: AggregateFunction>(name: String = "WindowAggregate", _ function: F) -> DataStream<WindowResult<Key, F.Result>>
    where F.Input == T {
        aggregated(name, fold: { (acc: F.Accumulator?, value: T) in
            var accumulator = acc ?? function.createAccumulator()
            function.add(value, to: &accumulator)
            return accumulator
        }, finish: { function.result($0) })
    }
}

extension KeyedStream {
    /// Cuts the keyed stream into tumbling windows.
    public func window(_ assigner: some WindowAssigner) -> WindowedStream<Key, T> {
        WindowedStream(keyed: self, assigner: assigner)
    }
}
