import Metrics

/// The tumbling fast path of keyed window aggregation (no custom trigger, evictor, lateness or
/// late-data output): one accumulator per (key, window start) in map state, a timer at the
/// window's max timestamp; the result is emitted and the state cleared when the timer fires.
/// Records for a window the watermark already passed are dropped and counted. Everything else
/// runs in `GeneralWindowOperator` (Windows/).
final class WindowOperator<Key: StateKey, In: Sendable, Acc, Out: Sendable>: KeyedOperator<Key, In, WindowResult<Key, Out>> {
    let assigner: any TumblingAssigner
    let fold: @Sendable (Acc?, In) -> Acc
    let finish: @Sendable (Acc) -> Out
    /// Replaced by the backend's state in init (the base class is an empty placeholder).
    private var windows = MapState<Int64, Acc>()
    private var lateDropped: Int64 = 0
    private var publishedLate: Int64 = 0
    private let lateCounter: Counter

    init(
        setup: OperatorSetup, output: Output<WindowResult<Key, Out>>, keySelector: @escaping @Sendable (In) -> Key,
        assigner: any TumblingAssigner, fold: @escaping @Sendable (Acc?, In) -> Acc, finish: @escaping @Sendable (Acc) -> Out
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

