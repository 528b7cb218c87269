import Metrics

/// The tumbling fast path of keyed window aggregation (no custom trigger, evictor, lateness or
/// late-data output): one accumulator per (key, window start) in a keyed map table, a timer at the
/// window's max timestamp; the result is emitted and the state cleared when the timer fires.
/// Records for a window the watermark already passed are dropped and counted. Everything else
/// runs in `GeneralWindowOperator` (Windows/).
///
/// The contents are a `KeyedMapTable` registered as map state "window-contents": the snapshot is
/// byte for byte the one the map state this operator used before wrote, so either restores the other.
final class WindowOperator<Key: StateKey, In: Sendable, Acc, Out: Sendable>: KeyedOperator<Key, In, WindowResult<Key, Out>> {
    let assigner: any TumblingAssigner
    let fold: @Sendable (Acc?, In) -> Acc
    let finish: @Sendable (Acc) -> Out
    // The assigner's figures, read once: per record they would be calls through the existential.
    private let sizeMillis: Int64
    private let offsetMillis: Int64
    private let isEventTime: Bool
    private var windows: KeyedMapTable<Key, Int64, Acc>
    private var lateDropped: Int64 = 0
    private var publishedLate: Int64 = 0
    private let lateCounter: Counter

    static var contentsName: String { "window-contents" }

    init(
        setup: OperatorSetup, output: Output<WindowResult<Key, Out>>, keySelector: @escaping @Sendable (In) -> Key,
        assigner: any TumblingAssigner, fold: @escaping @Sendable (Acc?, In) -> Acc, finish: @escaping @Sendable (Acc) -> Out
    ) throws {
        self.assigner = assigner
        self.fold = fold
        self.finish = finish
        sizeMillis = assigner.sizeMillis
        offsetMillis = assigner.offsetMillis
        isEventTime = assigner.domain == .eventTime
        lateCounter = setup.metrics.counter("sluice_late_records_dropped_total", operatorID: setup.operatorID, subtask: setup.subtaskIndex)
        let startSerializer = AnyStateSerializer(BinaryCodableSerializer<Int64>())
        let accSerializer = try AnyStateSerializer<Acc>.automatic()
        // An empty stand-in until the base class has created the keyed backend the table lives in.
        let none = HeapKeyedStateBackend<Key>(
            keyGroupRange: KeyGroupRange(start: 0, end: -1), maxParallelism: setup.maxParallelism,
            keySerializer: AnyStateSerializer(BinaryCodableSerializer<Key>()))
        windows = KeyedMapTable(name: "", backend: none, mapKeySerializer: startSerializer, valueSerializer: accSerializer)
        try super.init(setup: setup, output: output, keySelector: keySelector)
        windows = try KeyedMapTable.register(
            Self.contentsName, in: backend, mapKeySerializer: startSerializer, valueSerializer: accSerializer)
    }

    override func processKeyed(_ value: In, timestamp: Int64?) throws {
        let start: Int64
        if isEventTime {
            guard let timestamp else { throw WindowError.missingTimestamp(operatorID: setup.operatorID) }
            start = TimeWindow.start(for: timestamp, offset: offsetMillis, size: sizeMillis)
            if start + sizeMillis - 1 <= timers.currentWatermark {
                lateDropped += 1
                return
            }
        } else {
            start = TimeWindow.start(for: setup.clock.nowMillis(), offset: offsetMillis, size: sizeMillis)
        }
        let isNew = windows.fold(start) { self.fold($0, value) }
        if isNew {
            let maxTimestamp = start + sizeMillis - 1
            if isEventTime {
                timers.registerEventTimeTimer(maxTimestamp)
            } else {
                timers.registerProcessingTimeTimer(maxTimestamp)
            }
        }
    }

    override func onEventTimer(_ timestamp: Int64) throws { try fire(timestamp) }
    override func onProcessingTimer(_ timestamp: Int64) throws { try fire(timestamp) }

    private func fire(_ maxTimestamp: Int64) throws {
        let start = maxTimestamp + 1 - sizeMillis
        guard let key = backend.context.key, let accumulator = windows.remove(start) else { return }
        let window = TimeWindow(start: start, end: start + sizeMillis)
        try output.collect(WindowResult(key: key, window: window, value: finish(accumulator)), timestamp: maxTimestamp)
    }

    override func publishMetrics() {
        if lateDropped > publishedLate {
            lateCounter.increment(by: lateDropped - publishedLate)
            publishedLate = lateDropped
        }
    }

    var droppedLateRecords: Int64 { lateDropped }

    /// Windows with contents, over all keys (tests check that fired windows are cleaned up).
    var stateEntryCount: Int { windows.totalCount }
}
