import Metrics

/// How a window operator keeps its contents and evaluates them when the window fires: an
/// incremental accumulator, or the buffered records (for evictors and process functions).
/// Made per operator subtask on its task thread, so its closures may hold per-subtask functions.
struct WindowContents<Key, In, Acc, Out: Sendable> {
    /// Adds a record (with its timestamp) to the contents.
    let add: (inout Acc?, In, Int64?) -> Void
    /// Combines two windows' contents (session windows); nil when the function cannot.
    let merge: ((Acc, Acc) -> Acc)?
    /// Emits the window's result; returns the contents to keep (evictors may drop records).
    let emit: (Key, Acc, ProcessWindowContext, EvictorContext, Collector<Out>) throws -> Acc?
    let serializer: AnyStateSerializer<Acc>
    /// What the contents are, for error messages.
    let what: String
}

/// Everything a window operator is configured with, besides its contents.
struct WindowSpec<In: Sendable>: Sendable {
    let assigner: any WindowAssigner
    let trigger: any Trigger<In>
    let allowedLatenessMillis: Int64
    let lateDataTag: OutputTag<In>?
}

/// The general keyed window operator (Flink's WindowOperator): any assigner (tumbling, sliding,
/// session with merging, global), any trigger, allowed lateness with cleanup timers, late data to
/// a side output, incremental or buffered contents. Timers and trigger state are scoped to
/// (key, window); all of it lives in keyed state tables and is checkpointed.
final class GeneralWindowOperator<Key: StateKey, In: Sendable, Acc, Out: Sendable>: KeyedOperator<Key, In, Out>, TriggerHost {
    private let spec: WindowSpec<In>
    private let contents: WindowContents<Key, In, Acc, Out>
    private let isEventTime: Bool
    /// window -> contents (keyed by the state window for merging assigners).
    private var windowContents: KeyedMapTable<Key, TimeWindow, Acc>
    /// Merging assigners: actual window -> the window its contents are stored under (Flink's
    /// MergingWindowSet), so merges move no contents until needed.
    private var mergingSet: KeyedMapTable<Key, TimeWindow, TimeWindow>
    private var triggerValues: KeyedMapTable<Key, TriggerValueKey, Int64>
    /// (time, clock) -> windows waiting for it: a timer is one per (key, window, time) as in Flink.
    private var windowTimers: KeyedMapTable<Key, WindowTimerSlot, [TimeWindow]>
    private var triggerContext: TriggerContext?
    private let processContext: ProcessWindowContext
    private let collector: Collector<Out>
    private var lateDropped: Int64 = 0
    private var publishedLate: Int64 = 0
    private let lateCounter: Counter

    init(
        setup: OperatorSetup, output: Output<Out>, keySelector: @escaping @Sendable (In) -> Key,
        spec: WindowSpec<In>, contents: WindowContents<Key, In, Acc, Out>
    ) throws {
        self.spec = spec
        self.contents = contents
        isEventTime = spec.assigner.domain == .eventTime
        if spec.assigner.isMerging {
            guard contents.merge != nil else { throw WindowError.notMergeable(operatorID: setup.operatorID, what: contents.what) }
            guard spec.trigger.canMerge else { throw WindowError.notMergeable(operatorID: setup.operatorID, what: "its trigger") }
        }
        lateCounter = setup.metrics.counter("sluice_late_records_dropped_total", operatorID: setup.operatorID, subtask: setup.subtaskIndex)
        processContext = ProcessWindowContext(sideOutputs: setup.sideOutputs)
        collector = Collector(output: output)
        let windowSerializer = AnyStateSerializer(BinaryCodableSerializer<TimeWindow>())
        // Empty stand-ins until the base class has created the keyed backend the tables live in.
        let none = HeapKeyedStateBackend<Key>(
            keyGroupRange: KeyGroupRange(start: 0, end: -1), maxParallelism: setup.maxParallelism,
            keySerializer: AnyStateSerializer(BinaryCodableSerializer<Key>()))
        windowContents = KeyedMapTable(name: "", backend: none, mapKeySerializer: windowSerializer, valueSerializer: contents.serializer)
        mergingSet = KeyedMapTable(name: "", backend: none, mapKeySerializer: windowSerializer, valueSerializer: windowSerializer)
        triggerValues = KeyedMapTable(
            name: "", backend: none, mapKeySerializer: AnyStateSerializer(BinaryCodableSerializer<TriggerValueKey>()),
            valueSerializer: AnyStateSerializer(BinaryCodableSerializer<Int64>()))
        windowTimers = KeyedMapTable(
            name: "", backend: none, mapKeySerializer: AnyStateSerializer(BinaryCodableSerializer<WindowTimerSlot>()),
            valueSerializer: AnyStateSerializer(BinaryCodableSerializer<[TimeWindow]>()))
        try super.init(setup: setup, output: output, keySelector: keySelector)
        windowContents = try KeyedMapTable.register(
            "windows-contents", in: backend, mapKeySerializer: windowSerializer, valueSerializer: contents.serializer)
        mergingSet = try KeyedMapTable.register(
            "windows-merging-set", in: backend, mapKeySerializer: windowSerializer, valueSerializer: windowSerializer)
        triggerValues = try KeyedMapTable.register(
            "windows-trigger-values", in: backend, mapKeySerializer: AnyStateSerializer(BinaryCodableSerializer<TriggerValueKey>()),
            valueSerializer: AnyStateSerializer(BinaryCodableSerializer<Int64>()))
        windowTimers = try KeyedMapTable.register(
            "windows-timers", in: backend, mapKeySerializer: AnyStateSerializer(BinaryCodableSerializer<WindowTimerSlot>()),
            valueSerializer: AnyStateSerializer(BinaryCodableSerializer<[TimeWindow]>()))
    }

    private var context: TriggerContext {
        if let triggerContext { return triggerContext }
        let made = TriggerContext(host: self)
        triggerContext = made
        return made
    }

    // MARK: TriggerHost

    var currentWatermark: Int64 { timers.currentWatermark }
    var currentProcessingTime: Int64 { setup.clock.nowMillis() }

    func registerTimer(_ time: Int64, domain: TimeDomain, window: TimeWindow) {
        let slot = WindowTimerSlot(timestamp: time, domain: domain)
        let isNew = windowTimers.modify(slot) { windows -> Bool in
            var list = windows ?? []
            guard !list.contains(window) else { return false }
            list.append(window)
            windows = list
            return list.count == 1
        }
        guard isNew else { return }
        switch domain {
        case .eventTime: timers.registerEventTimeTimer(time)
        case .processingTime: timers.registerProcessingTimeTimer(time)
        }
    }

    func deleteTimer(_ time: Int64, domain: TimeDomain, window: TimeWindow) {
        let slot = WindowTimerSlot(timestamp: time, domain: domain)
        let nowEmpty = windowTimers.modify(slot) { windows -> Bool in
            guard var list = windows, let at = list.firstIndex(of: window) else { return false }
            list.remove(at: at)
            windows = list.isEmpty ? nil : list
            return list.isEmpty
        }
        guard nowEmpty else { return }
        switch domain {
        case .eventTime: timers.deleteEventTimeTimer(time)
        case .processingTime: timers.deleteProcessingTimeTimer(time)
        }
    }

    func triggerValue(_ name: String, window: TimeWindow) -> Int64? { triggerValues.get(TriggerValueKey(window: window, name: name)) }

    func setTriggerValue(_ name: String, _ value: Int64?, window: TimeWindow) {
        triggerValues.put(TriggerValueKey(window: window, name: name), value)
    }

    // MARK: time helpers

    /// The time after which a window's state is dropped: its end plus lateness (event time).
    private func cleanupTime(_ window: TimeWindow) -> Int64 {
        guard isEventTime else { return window.maxTimestamp }
        let lateness = spec.allowedLatenessMillis
        return window.maxTimestamp > Int64.max - lateness ? Int64.max : window.maxTimestamp + lateness
    }

    private func isWindowLate(_ window: TimeWindow) -> Bool { isEventTime && cleanupTime(window) <= currentWatermark }

    private func isElementLate(_ timestamp: Int64?) -> Bool {
        guard isEventTime, let timestamp else { return false }
        let lateness = spec.allowedLatenessMillis
        // timestamp + lateness <= watermark, without overflow.
        guard currentWatermark >= Int64.min + lateness else { return false }
        return timestamp <= currentWatermark - lateness
    }

    private func registerCleanupTimer(_ window: TimeWindow) {
        let time = cleanupTime(window)
        guard time != Int64.max else { return }
        registerTimer(time, domain: isEventTime ? .eventTime : .processingTime, window: window)
    }

    private func deleteCleanupTimer(_ window: TimeWindow) {
        let time = cleanupTime(window)
        guard time != Int64.max else { return }
        deleteTimer(time, domain: isEventTime ? .eventTime : .processingTime, window: window)
    }

    // MARK: records

    override func processKeyed(_ value: In, timestamp: Int64?) throws {
        if isEventTime && timestamp == nil { throw WindowError.missingTimestamp(operatorID: setup.operatorID) }
        let windows = spec.assigner.assignWindows(timestamp: timestamp, now: setup.clock.nowMillis())
        var skipped = true
        for window in windows {
            let actual: TimeWindow
            let stateWindow: TimeWindow
            if spec.assigner.isMerging {
                actual = try addToMergingSet(window)
                if isWindowLate(actual) {
                    mergingSet.remove(actual)
                    continue
                }
                stateWindow = mergingSet.get(actual) ?? actual
            } else {
                if isWindowLate(window) { continue }
                actual = window
                stateWindow = window
            }
            skipped = false
            windowContents.modify(stateWindow) { contents.add(&$0, value, timestamp) }
            let ctx = context
            ctx.window = actual
            let result = try spec.trigger.onElement(value, timestamp: timestamp, window: actual, context: ctx)
            try apply(result, window: actual, stateWindow: stateWindow)
            registerCleanupTimer(actual)
        }
        if skipped && isElementLate(timestamp) {
            lateDropped += 1
            if let tag = spec.lateDataTag { try setup.sideOutputs.emit(tag, value, timestamp: timestamp) }
        }
    }

    /// Adds `window` to the key's merging set, merging it with overlapping windows (Flink's
    /// `MergingWindowSet.addWindow` with the window operator's merge function). Returns the
    /// window the record belongs to now.
    private func addToMergingSet(_ newWindow: TimeWindow) throws -> TimeWindow {
        let mapping = mergingSet.entries
        var result = newWindow
        var mergedNew = false
        let groups = mergeOverlapping(Array(mapping.keys) + [newWindow])
        for group in groups {
            var members = group.members
            if let at = members.firstIndex(of: newWindow) {
                members.remove(at: at)
                mergedNew = true
                result = group.cover
            }
            guard let first = members.first, let targetStateWindow = mergingSet.get(first) else { continue }
            var mergedStateWindows: [TimeWindow] = []
            for member in members {
                if let stateWindow = mergingSet.remove(member) { mergedStateWindows.append(stateWindow) }
            }
            mergingSet.put(group.cover, targetStateWindow)
            mergedStateWindows.removeAll { $0 == targetStateWindow }
            if !(members.count == 1 && members[0] == group.cover) {
                try merged(into: group.cover, from: members, stateWindow: targetStateWindow, mergedStateWindows: mergedStateWindows)
            }
        }
        if groups.isEmpty || (result == newWindow && !mergedNew) {
            mergingSet.put(result, result)
        }
        return result
    }

    /// The window operator's merge function: the trigger merges, merged windows lose their
    /// trigger state and cleanup timers, and their contents move into the target state window.
    private func merged(into cover: TimeWindow, from windows: [TimeWindow], stateWindow: TimeWindow, mergedStateWindows: [TimeWindow]) throws {
        if isEventTime ? cleanupTime(cover) <= currentWatermark : cover.maxTimestamp <= currentProcessingTime {
            throw WindowError.mergeBeforeWatermark(operatorID: setup.operatorID, window: cover)
        }
        let ctx = context
        ctx.window = cover
        ctx.mergedWindows = windows
        try spec.trigger.onMerge(window: cover, context: ctx)
        ctx.mergedWindows = []
        for window in windows where window != cover {
            ctx.window = window
            try spec.trigger.clear(window: window, context: ctx)
            clearTriggerValues(of: window)
            deleteCleanupTimer(window)
        }
        guard let merge = contents.merge else { return }
        for source in mergedStateWindows {
            guard let moved = windowContents.remove(source) else { continue }
            windowContents.modify(stateWindow) { target in
                target = target.map { merge($0, moved) } ?? moved
            }
        }
    }

    private func clearTriggerValues(of window: TimeWindow) {
        for key in triggerValues.entries.keys where key.window == window { triggerValues.remove(key) }
    }

    // MARK: firing

    private func apply(_ result: TriggerResult, window: TimeWindow, stateWindow: TimeWindow) throws {
        if result.isFire, let acc = windowContents.get(stateWindow), let key = backend.context.key {
            processContext.window = window
            processContext.currentWatermark = currentWatermark
            processContext.currentProcessingTime = currentProcessingTime
            collector.timestamp = window.maxTimestamp
            let evictorContext = EvictorContext(currentWatermark: currentWatermark, currentProcessingTime: currentProcessingTime)
            let kept = try contents.emit(key, acc, processContext, evictorContext, collector)
            if !result.isPurge { windowContents.put(stateWindow, kept) }
        }
        if result.isPurge { windowContents.remove(stateWindow) }
    }

    override func onEventTimer(_ timestamp: Int64) throws { try onTimer(timestamp, domain: .eventTime) }
    override func onProcessingTimer(_ timestamp: Int64) throws { try onTimer(timestamp, domain: .processingTime) }

    private func onTimer(_ time: Int64, domain: TimeDomain) throws {
        guard let windows = windowTimers.remove(WindowTimerSlot(timestamp: time, domain: domain)) else { return }
        for window in windows.sorted() {
            var stateWindow = window
            if spec.assigner.isMerging {
                // A timer of a window merged away: its trigger should have deleted it; nothing to do.
                guard let found = mergingSet.get(window) else { continue }
                stateWindow = found
            }
            let ctx = context
            ctx.window = window
            let result = domain == .eventTime
                ? try spec.trigger.onEventTime(time, window: window, context: ctx)
                : try spec.trigger.onProcessingTime(time, window: window, context: ctx)
            try apply(result, window: window, stateWindow: stateWindow)
            if (domain == .eventTime) == isEventTime && cleanupTime(window) == time {
                try clearAllState(window, stateWindow: stateWindow)
            }
        }
    }

    private func clearAllState(_ window: TimeWindow, stateWindow: TimeWindow) throws {
        windowContents.remove(stateWindow)
        let ctx = context
        ctx.window = window
        try spec.trigger.clear(window: window, context: ctx)
        clearTriggerValues(of: window)
        if spec.assigner.isMerging { mergingSet.remove(window) }
    }

    override func publishMetrics() {
        if lateDropped > publishedLate {
            lateCounter.increment(by: lateDropped - publishedLate)
            publishedLate = lateDropped
        }
    }

    var droppedLateRecords: Int64 { lateDropped }

    /// Entries in all window state tables and timers (zero once every window was cleaned up).
    var stateEntryCount: Int {
        windowContents.totalCount + mergingSet.totalCount + triggerValues.totalCount + windowTimers.totalCount
            + timers.eventTimers.count + timers.processingTimers.count
    }
}
