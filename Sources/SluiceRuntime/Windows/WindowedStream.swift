/// A keyed stream cut into windows (Flink's WindowedStream). Configure with `trigger`,
/// `evictor`, `allowedLateness` and `sideOutputLateData`, then end with `count`, `reduce`,
/// `aggregate` or `process`. Tumbling windows without any of those options run on a fast path.
public struct WindowedStream<Key: StateKey, T: Sendable> {
    let keyed: KeyedStream<Key, T>
    let assigner: any WindowAssigner
    var customTrigger: (any Trigger<T>)?
    var customEvictor: (any Evictor<T>)?
    var allowedLatenessMillis: Int64 = 0
    var lateDataTag: OutputTag<T>?

    init(keyed: KeyedStream<Key, T>, assigner: any WindowAssigner) {
        self.keyed = keyed
        self.assigner = assigner
    }

    /// Replaces the assigner's default trigger.
    public func trigger(_ trigger: some Trigger<T>) -> WindowedStream {
        var copy = self
        copy.customTrigger = trigger
        return copy
    }

    /// Removes records from a firing window before and/or after the function; the window then
    /// buffers its records instead of aggregating them incrementally.
    public func evictor(_ evictor: some Evictor<T>) -> WindowedStream {
        var copy = self
        copy.customEvictor = evictor
        return copy
    }

    /// Keeps event-time windows (and their state) `millis` past their end: a late record within
    /// that time updates the window and re-fires it (with the default trigger). Later records
    /// are dropped, counted, and sent to `sideOutputLateData` when set.
    public func allowedLateness(_ millis: Int64) -> WindowedStream {
        var copy = self
        copy.allowedLatenessMillis = max(0, millis)
        return copy
    }

    /// Sends records too late for every window they belong to to the side output `tag`; read it
    /// with `sideOutput(tag)` on the stream the window returns.
    public func sideOutputLateData(_ tag: OutputTag<T>) -> WindowedStream {
        var copy = self
        copy.lateDataTag = tag
        return copy
    }

    private var fastPathAssigner: (any TumblingAssigner)? {
        guard customTrigger == nil, customEvictor == nil, allowedLatenessMillis == 0, lateDataTag == nil else { return nil }
        return assigner as? any TumblingAssigner
    }

    private var spec: WindowSpec<T> {
        WindowSpec(
            assigner: assigner, trigger: customTrigger ?? assigner.defaultTrigger.make(for: T.self),
            allowedLatenessMillis: allowedLatenessMillis, lateDataTag: lateDataTag)
    }

    private func general<Acc, Out: Sendable>(
        _ name: String, _ contents: @escaping @Sendable () throws -> WindowContents<Key, T, Acc, Out>
    ) -> DataStream<Out> {
        let selector = keyed.keySelector
        let spec = self.spec
        return keyed.keyedThen(name) { setup, output in
            try GeneralWindowOperator(setup: setup, output: output, keySelector: selector, spec: spec, contents: try contents())
        }
    }

    /// Buffered records run through the evictor, then through the evaluation `makeEvaluate` makes
    /// (once per subtask) on what is left.
    private func buffered<Out: Sendable>(
        _ name: String, what: String,
        makeEvaluate: @escaping @Sendable () -> (Key, [T], ProcessWindowContext, Collector<Out>) throws -> Void
    ) -> DataStream<Out> {
        let evictor = customEvictor
        return general(name) {
            let evaluate = makeEvaluate()
            return WindowContents<Key, T, [TimestampedValue<T>], Out>(
                add: { list, value, timestamp in
                    if list == nil { list = [] }
                    list?.append(TimestampedValue(value, timestamp: timestamp))
                },
                merge: { $0 + $1 },
                emit: { key, list, context, evictorContext, out in
                    var elements = list
                    evictor?.evictBefore(&elements, window: context.window, context: evictorContext)
                    try evaluate(key, elements.map(\.value), context, out)
                    evictor?.evictAfter(&elements, window: context.window, context: evictorContext)
                    return elements.isEmpty ? nil : elements
                },
                serializer: try AnyStateSerializer<[TimestampedValue<T>]>.automatic(),
                what: what)
        }
    }

    func aggregated<Acc, Out: Sendable>(
        _ name: String, fold: @escaping @Sendable (Acc?, T) -> Acc, finish: @escaping @Sendable (Acc) -> Out,
        merge: (@Sendable (Acc, Acc) -> Acc)?, what: String
    ) -> DataStream<WindowResult<Key, Out>> {
        if let tumbling = fastPathAssigner {
            let selector = keyed.keySelector
            return keyed.keyedThen(name) { setup, output in
                try WindowOperator(setup: setup, output: output, keySelector: selector, assigner: tumbling, fold: fold, finish: finish)
            }
        }
        if customEvictor != nil {
            return buffered(name, what: what) {
                { key, values, context, out in
                    guard let first = values.first else { return }
                    var acc = fold(nil, first)
                    for value in values.dropFirst() { acc = fold(acc, value) }
                    try out.collect(WindowResult(key: key, window: context.window, value: finish(acc)))
                }
            }
        }
        return general(name) {
            WindowContents<Key, T, Acc, WindowResult<Key, Out>>(
                add: { acc, value, _ in acc = fold(acc, value) },
                merge: merge,
                emit: { key, acc, context, _, out in
                    try out.collect(WindowResult(key: key, window: context.window, value: finish(acc)))
                    return acc
                },
                serializer: try AnyStateSerializer<Acc>.automatic(),
                what: what)
        }
    }

    /// Records per key and window.
    public func count(name: String = "WindowCount") -> DataStream<WindowResult<Key, Int>> {
        aggregated(name, fold: { (acc: Int?, _: T) in (acc ?? 0) + 1 }, finish: { $0 }, merge: { $0 + $1 }, what: "count")
    }

    /// Combines the records of a key and window pairwise. `T` must be `BinaryCodable` or `Codable`
    /// (it is the window's checkpointed state).
    public func reduce(name: String = "WindowReduce", _ combine: @escaping @Sendable (T, T) -> T) -> DataStream<WindowResult<Key, T>> {
        aggregated(
            name, fold: { (acc: T?, value: T) in acc.map { combine($0, value) } ?? value }, finish: { $0 }, merge: combine,
            what: "reduce")
    }

    /// Aggregates incrementally; the accumulator must be `BinaryCodable` or `Codable`. Session
    /// windows need a `MergeableAggregateFunction` (its `merge` combines merged sessions).
    public func aggregate<F: AggregateFunction>(name: String = "WindowAggregate", _ function: F) -> DataStream<WindowResult<Key, F.Result>>
    where F.Input == T {
        aggregated(
            name, fold: Self.folding(function), finish: { function.result($0) }, merge: Self.merger(function),
            what: "the aggregate function \(F.self)")
    }

    private static func folding<F: AggregateFunction>(_ function: F) -> @Sendable (F.Accumulator?, T) -> F.Accumulator where F.Input == T {
        { acc, value in
            var accumulator = acc ?? function.createAccumulator()
            function.add(value, to: &accumulator)
            return accumulator
        }
    }

    /// Processes all records of a window at once when it fires, with its metadata (Flink's
    /// `process(ProcessWindowFunction)`). The window buffers its records: `T` must be
    /// `BinaryCodable` or `Codable`. `function` is evaluated once per subtask.
    public func process<F: ProcessWindowFunction>(
        name: String = "WindowProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Key == Key, F.Input == T {
        buffered(name, what: "process function") {
            let instance = function()
            return { key, values, context, out in
                try instance.process(key: key, context: context, elements: values, out: out)
            }
        }
    }

    /// Aggregates incrementally and hands the single result to a process window function with the
    /// window's metadata (Flink's `aggregate(AggregateFunction, ProcessWindowFunction)`).
    public func aggregate<F: AggregateFunction, P: ProcessWindowFunction>(
        name: String = "WindowAggregate", _ function: F, process: @autoclosure @escaping @Sendable () -> P
    ) -> DataStream<P.Output> where F.Input == T, P.Key == Key, P.Input == F.Result {
        let fold = Self.folding(function)
        if customEvictor != nil {
            return buffered(name, what: "the aggregate function \(F.self)") {
                let processor = process()
                return { key, values, context, out in
                    guard let first = values.first else { return }
                    var acc = fold(nil, first)
                    for value in values.dropFirst() { acc = fold(acc, value) }
                    try processor.process(key: key, context: context, elements: [function.result(acc)], out: out)
                }
            }
        }
        let merge = Self.merger(function)
        return general(name) {
            let processor = process()
            return WindowContents<Key, T, F.Accumulator, P.Output>(
                add: { acc, value, _ in acc = fold(acc, value) },
                merge: merge,
                emit: { key, acc, context, _, out in
                    try processor.process(key: key, context: context, elements: [function.result(acc)], out: out)
                    return acc
                },
                serializer: try AnyStateSerializer<F.Accumulator>.automatic(),
                what: "the aggregate function \(F.self)")
        }
    }

    private static func merger<F: AggregateFunction>(_ function: F) -> (@Sendable (F.Accumulator, F.Accumulator) -> F.Accumulator)? {
        guard let mergeable = function as? any MergeableAggregateFunction else { return nil }
        return { a, b in
            // Opens the existential: the accumulator types are the same `F.Accumulator`.
            func merge<M: MergeableAggregateFunction>(_ m: M) -> F.Accumulator {
                guard let x = a as? M.Accumulator, let y = b as? M.Accumulator, let merged = m.merge(x, y) as? F.Accumulator else { return a }
                return merged
            }
            return merge(mergeable)
        }
    }
}

extension KeyedStream {
    /// Cuts the keyed stream into windows: tumbling, sliding, session or global.
    public func window(_ assigner: some WindowAssigner) -> WindowedStream<Key, T> {
        WindowedStream(keyed: self, assigner: assigner)
    }

    /// Windows of `size` records per key (Flink's countWindow): global windows with a purging
    /// count trigger.
    public func countWindow(_ size: Int64) -> WindowedStream<Key, T> {
        window(GlobalWindows()).trigger(PurgingTrigger(CountTrigger<T>(size)))
    }

    /// Sliding count windows: every `slide` records, the last `size` records of the key.
    public func countWindow(_ size: Int64, slide: Int64) -> WindowedStream<Key, T> {
        window(GlobalWindows()).evictor(CountEvictor<T>(Int(size))).trigger(CountTrigger<T>(slide))
    }
}
