/// How a source derives timestamps and watermarks (Flink's WatermarkStrategy).
public struct WatermarkStrategy<T>: Sendable {
    /// nil: no watermarks (processing time only).
    public let outOfOrdernessMillis: Int64?
    /// A split (and a subtask with no splits) that yields no record for this long is idle and
    /// stops holding the watermark back.
    public let idlenessMillis: Int64?
    /// Derives the event time of a record; gets the reader's timestamp (e.g. the Kafka record's).
    public let timestampAssigner: (@Sendable (T, Int64?) -> Int64)?

    public static var noWatermarks: WatermarkStrategy<T> {
        WatermarkStrategy(outOfOrdernessMillis: nil, idlenessMillis: nil, timestampAssigner: nil)
    }

    /// Watermark = largest timestamp seen - `millis` - 1.
    public static func boundedOutOfOrderness(_ millis: Int64) -> WatermarkStrategy<T> {
        WatermarkStrategy(outOfOrdernessMillis: max(0, millis), idlenessMillis: nil, timestampAssigner: nil)
    }

    public static var monotonousTimestamps: WatermarkStrategy<T> { boundedOutOfOrderness(0) }

    public func withIdleness(_ millis: Int64) -> WatermarkStrategy<T> {
        WatermarkStrategy(outOfOrdernessMillis: outOfOrdernessMillis, idlenessMillis: millis, timestampAssigner: timestampAssigner)
    }

    public func withTimestampAssigner(_ assigner: @escaping @Sendable (T, Int64?) -> Int64) -> WatermarkStrategy<T> {
        WatermarkStrategy(outOfOrdernessMillis: outOfOrdernessMillis, idlenessMillis: idlenessMillis, timestampAssigner: assigner)
    }
}

/// A change a watermark generator asks its output to emit.
enum WatermarkUpdate: Equatable, Sendable {
    case watermark(Int64)
    case idle
    case active
}

/// Per-split bounded-out-of-orderness watermark generators of one source subtask, combined as
/// the minimum over non-idle splits (Flink's per-partition watermarks). A subtask whose splits are
/// all idle (or that has none for the idle timeout) is idle.
final class SplitWatermarkMultiplexer {
    private struct SplitState {
        var maxTimestamp = Int64.min
        var lastActivity: Int64
    }

    let outOfOrdernessMillis: Int64
    let idleTimeoutMillis: Int64?
    private var splits: [String: SplitState] = [:]
    private var openedAt: Int64
    private var lastEmitted = Watermark.min
    private(set) var isIdle = false

    init(outOfOrdernessMillis: Int64, idleTimeoutMillis: Int64?, now: Int64) {
        self.outOfOrdernessMillis = outOfOrdernessMillis
        self.idleTimeoutMillis = idleTimeoutMillis
        self.openedAt = now
    }

    /// A split the reader was assigned; it holds the watermark back until it is idle or released.
    /// `maxTimestamp`: the largest timestamp the split had yielded when the restored checkpoint was
    /// taken, so that a split with nothing new after a restore holds the watermark where it was,
    /// not at the beginning of time until its idle timeout.
    func registerSplit(_ split: String, now: Int64, maxTimestamp: Int64? = nil) {
        if splits[split] == nil {
            recentSplit = nil
            splits[split] = SplitState(maxTimestamp: maxTimestamp ?? Int64.min, lastActivity: now)
        }
    }

    /// The largest timestamp a split yielded (or was restored with); nil before any.
    func maxTimestamp(ofSplit split: String) -> Int64? {
        guard let state = splits[split], state.maxTimestamp != Int64.min else { return nil }
        return state.maxTimestamp
    }

    /// The split finished or was taken away; it no longer holds the watermark back.
    func releaseSplit(_ split: String, now: Int64) {
        recentSplit = nil
        splits.removeValue(forKey: split)
        if splits.isEmpty { openedAt = now }
    }

    /// The split of the previous record and where its state is: records come in runs of one split,
    /// so most records skip hashing the split name. Reset whenever `splits` gains or loses a key
    /// (which invalidates dictionary indices); updating a value in place keeps indices valid.
    private var recentSplit: (name: String, index: Dictionary<String, SplitState>.Index)?

    @inline(__always)
    func onRecord(split: String, timestamp: Int64, now: Int64) {
        if let recent = recentSplit, recent.name == split {
            update(at: recent.index, timestamp: timestamp, now: now)
        } else if let index = splits.index(forKey: split) {
            recentSplit = (split, index)
            update(at: index, timestamp: timestamp, now: now)
        } else {
            recentSplit = nil
            splits[split] = SplitState(maxTimestamp: timestamp, lastActivity: now)
        }
    }

    @inline(__always)
    private func update(at index: Dictionary<String, SplitState>.Index, timestamp: Int64, now: Int64) {
        if timestamp > splits.values[index].maxTimestamp { splits.values[index].maxTimestamp = timestamp }
        splits.values[index].lastActivity = now
    }

    /// The watermark of one split's generator.
    func watermark(ofSplit split: String) -> Int64? {
        guard let state = splits[split] else { return nil }
        return state.maxTimestamp == Int64.min ? Int64.min : state.maxTimestamp - outOfOrdernessMillis - 1
    }

    /// What changed since the last call: an idle/active transition and/or a higher watermark.
    func poll(now: Int64) -> [WatermarkUpdate] {
        var updates: [WatermarkUpdate] = []
        var combined = Int64.max
        var anyActive = false
        for state in splits.values {
            if let idle = idleTimeoutMillis, now - state.lastActivity >= idle { continue }
            anyActive = true
            let wm = state.maxTimestamp == Int64.min ? Int64.min : state.maxTimestamp - outOfOrdernessMillis - 1
            if wm < combined { combined = wm }
        }
        let idleNow: Bool
        if splits.isEmpty {
            if let idle = idleTimeoutMillis { idleNow = now - openedAt >= idle } else { idleNow = false }
        } else {
            idleNow = !anyActive
        }
        if idleNow != isIdle {
            isIdle = idleNow
            updates.append(idleNow ? .idle : .active)
        }
        if anyActive && combined > lastEmitted && combined != Int64.max {
            lastEmitted = combined
            updates.append(.watermark(combined))
        }
        return updates
    }

    var currentWatermark: Int64 { lastEmitted }
}

/// Combines the watermarks of a task's input channels: the minimum over non-idle channels,
/// emitted only when it rises; idle when every channel is idle (Flink's StatusWatermarkValve).
struct WatermarkValve: Sendable {
    private var watermarks: [Int64]
    private var idle: [Bool]
    private var lastEmitted = Watermark.min
    private(set) var isIdle = false

    init(channelCount: Int) {
        watermarks = Array(repeating: Watermark.min, count: channelCount)
        idle = Array(repeating: false, count: channelCount)
    }

    var currentWatermark: Int64 { lastEmitted }

    mutating func inputWatermark(_ watermark: Int64, channel: Int) -> [WatermarkUpdate] {
        if watermark > watermarks[channel] { watermarks[channel] = watermark }
        var updates: [WatermarkUpdate] = []
        if idle[channel] {
            idle[channel] = false
            if isIdle {
                isIdle = false
                updates.append(.active)
            }
        }
        return updates + advance()
    }

    mutating func inputIdleStatus(_ isChannelIdle: Bool, channel: Int) -> [WatermarkUpdate] {
        guard idle[channel] != isChannelIdle else { return [] }
        idle[channel] = isChannelIdle
        var updates: [WatermarkUpdate] = []
        let allIdle = !idle.contains(false)
        if allIdle != isIdle {
            isIdle = allIdle
            if allIdle { return [.idle] }
            updates.append(.active)
        }
        return updates + advance()
    }

    private mutating func advance() -> [WatermarkUpdate] {
        var combined = Int64.max
        var any = false
        for i in watermarks.indices where !idle[i] {
            any = true
            if watermarks[i] < combined { combined = watermarks[i] }
        }
        guard any, combined > lastEmitted else { return [] }
        lastEmitted = combined
        return [.watermark(combined)]
    }
}
