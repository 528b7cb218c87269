/// What a trigger decides for a window (Flink's TriggerResult).
public enum TriggerResult: Sendable, Equatable {
    case `continue`
    /// Emit the window's result; keep its contents.
    case fire
    /// Drop the window's contents without emitting.
    case purge
    case fireAndPurge

    public var isFire: Bool { self == .fire || self == .fireAndPurge }
    public var isPurge: Bool { self == .purge || self == .fireAndPurge }
}

/// Decides when a window emits (Flink's Trigger). Triggers are stateless values: per-window
/// state and timers go through the `TriggerContext`, which scopes them to the current key and
/// window and checkpoints them with the window's state.
public protocol Trigger<Element>: Sendable {
    associatedtype Element
    func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) throws -> TriggerResult
    func onEventTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult
    func onProcessingTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult
    /// Whether the trigger supports merging (session) windows.
    var canMerge: Bool { get }
    /// `window` replaced `context.mergedWindows`: combine their state (`context.mergedValues`) and
    /// register the timers the new window needs. Their own state is cleared afterwards.
    func onMerge(window: TimeWindow, context: TriggerContext) throws
    /// The window is gone (purged at cleanup time or merged away): delete its timers and state.
    func clear(window: TimeWindow, context: TriggerContext) throws
}

extension Trigger {
    public func onEventTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult { .continue }
    public func onProcessingTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult { .continue }
    public var canMerge: Bool { false }
    public func onMerge(window: TimeWindow, context: TriggerContext) throws {}
    public func clear(window: TimeWindow, context: TriggerContext) throws {}
}

/// What the window operator offers a trigger.
protocol TriggerHost: AnyObject {
    var currentWatermark: Int64 { get }
    var currentProcessingTime: Int64 { get }
    func registerTimer(_ time: Int64, domain: TimeDomain, window: TimeWindow)
    func deleteTimer(_ time: Int64, domain: TimeDomain, window: TimeWindow)
    func triggerValue(_ name: String, window: TimeWindow) -> Int64?
    func setTriggerValue(_ name: String, _ value: Int64?, window: TimeWindow)
}

/// Time, timers and small per-window state for a trigger, scoped to the current key and window.
/// State values are `Int64` (counters, timestamps), checkpointed with the window.
public final class TriggerContext {
    unowned let host: any TriggerHost
    /// The window the trigger is being called for.
    public internal(set) var window = TimeWindow.global
    /// In `onMerge`: the windows that were merged into `window`.
    public internal(set) var mergedWindows: [TimeWindow] = []

    init(host: any TriggerHost) {
        self.host = host
    }

    public var currentWatermark: Int64 { host.currentWatermark }
    public var currentProcessingTime: Int64 { host.currentProcessingTime }

    public func registerEventTimeTimer(_ time: Int64) { host.registerTimer(time, domain: .eventTime, window: window) }
    public func deleteEventTimeTimer(_ time: Int64) { host.deleteTimer(time, domain: .eventTime, window: window) }
    public func registerProcessingTimeTimer(_ time: Int64) { host.registerTimer(time, domain: .processingTime, window: window) }
    public func deleteProcessingTimeTimer(_ time: Int64) { host.deleteTimer(time, domain: .processingTime, window: window) }

    /// The trigger's value `name` for the current window.
    public func value(_ name: String) -> Int64? { host.triggerValue(name, window: window) }
    /// Sets (nil: removes) the trigger's value `name` for the current window.
    public func setValue(_ name: String, _ value: Int64?) { host.setTriggerValue(name, value, window: window) }
    /// In `onMerge`: the values `name` of the merged windows (absent ones skipped).
    public func mergedValues(_ name: String) -> [Int64] {
        mergedWindows.compactMap { host.triggerValue(name, window: $0) }
    }
}

/// Fires when the watermark passes the window's end, and once more for every late record that
/// arrives within the allowed lateness (Flink's EventTimeTrigger).
public struct EventTimeTrigger<Element>: Trigger {
    public init() {}
    public func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        if window.maxTimestamp <= context.currentWatermark { return .fire }
        context.registerEventTimeTimer(window.maxTimestamp)
        return .continue
    }
    public func onEventTime(_ time: Int64, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        time == window.maxTimestamp ? .fire : .continue
    }
    public var canMerge: Bool { true }
    public func onMerge(window: TimeWindow, context: TriggerContext) {
        if window.maxTimestamp > context.currentWatermark { context.registerEventTimeTimer(window.maxTimestamp) }
    }
    public func clear(window: TimeWindow, context: TriggerContext) { context.deleteEventTimeTimer(window.maxTimestamp) }
}

/// Fires when the processing-time clock passes the window's end.
public struct ProcessingTimeTrigger<Element>: Trigger {
    public init() {}
    public func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        context.registerProcessingTimeTimer(window.maxTimestamp)
        return .continue
    }
    public func onProcessingTime(_ time: Int64, window: TimeWindow, context: TriggerContext) -> TriggerResult { .fire }
    public var canMerge: Bool { true }
    public func onMerge(window: TimeWindow, context: TriggerContext) {
        if window.maxTimestamp > context.currentProcessingTime { context.registerProcessingTimeTimer(window.maxTimestamp) }
    }
    public func clear(window: TimeWindow, context: TriggerContext) { context.deleteProcessingTimeTimer(window.maxTimestamp) }
}

/// Fires every `maxCount` records of a window (and resets its count).
public struct CountTrigger<Element>: Trigger {
    public let maxCount: Int64
    public init(_ maxCount: Int64) { self.maxCount = max(1, maxCount) }
    public func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        let count = (context.value("count") ?? 0) + 1
        if count >= maxCount {
            context.setValue("count", nil)
            return .fire
        }
        context.setValue("count", count)
        return .continue
    }
    public var canMerge: Bool { true }
    public func onMerge(window: TimeWindow, context: TriggerContext) {
        let merged = context.mergedValues("count").reduce(0, +)
        context.setValue("count", merged == 0 ? nil : merged)
    }
    public func clear(window: TimeWindow, context: TriggerContext) { context.setValue("count", nil) }
}

/// Turns every firing of `inner` into fire-and-purge: each firing emits only the records since
/// the previous one.
public struct PurgingTrigger<Inner: Trigger>: Trigger {
    public typealias Element = Inner.Element
    public let inner: Inner
    public init(_ inner: Inner) { self.inner = inner }
    private func purging(_ result: TriggerResult) -> TriggerResult { result.isFire ? .fireAndPurge : result }
    public func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) throws -> TriggerResult {
        purging(try inner.onElement(element, timestamp: timestamp, window: window, context: context))
    }
    public func onEventTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult {
        purging(try inner.onEventTime(time, window: window, context: context))
    }
    public func onProcessingTime(_ time: Int64, window: TimeWindow, context: TriggerContext) throws -> TriggerResult {
        purging(try inner.onProcessingTime(time, window: window, context: context))
    }
    public var canMerge: Bool { inner.canMerge }
    public func onMerge(window: TimeWindow, context: TriggerContext) throws { try inner.onMerge(window: window, context: context) }
    public func clear(window: TimeWindow, context: TriggerContext) throws { try inner.clear(window: window, context: context) }
}

/// Never fires (the default of global windows).
public struct NeverTrigger<Element>: Trigger {
    public init() {}
    public func onElement(_ element: Element, timestamp: Int64?, window: TimeWindow, context: TriggerContext) -> TriggerResult { .continue }
    public var canMerge: Bool { true }
}

extension DefaultTrigger {
    func make<T>(for type: T.Type) -> any Trigger<T> {
        switch self {
        case .eventTime: EventTimeTrigger<T>()
        case .processingTime: ProcessingTimeTrigger<T>()
        case .never: NeverTrigger<T>()
        }
    }
}
