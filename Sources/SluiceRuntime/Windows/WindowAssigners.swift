/// A time window [start, end). The global window (`TimeWindow.global`) spans all of time.
public struct TimeWindow: Sendable, Hashable, Codable, CustomStringConvertible, BinaryCodable, Comparable {
    public let start: Int64
    public let end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    /// The one window of `GlobalWindows`: it never ends, so no event-time timer or cleanup is
    /// ever due for it (Flink's GlobalWindow, whose max timestamp is Long.MAX_VALUE).
    public static let global = TimeWindow(start: Int64.min, end: Int64.max)

    public var isGlobal: Bool { self == .global }
    /// The largest timestamp that belongs to the window (`Int64.max` for the global window).
    public var maxTimestamp: Int64 { isGlobal ? Int64.max : end - 1 }
    public var description: String { isGlobal ? "global" : "[\(start), \(end))" }

    /// True when the two windows overlap (share at least one timestamp).
    public func intersects(_ other: TimeWindow) -> Bool { start <= other.end && end >= other.start }

    /// The smallest window covering both.
    public func cover(_ other: TimeWindow) -> TimeWindow {
        TimeWindow(start: Swift.min(start, other.start), end: Swift.max(end, other.end))
    }

    public static func < (a: TimeWindow, b: TimeWindow) -> Bool {
        a.start != b.start ? a.start < b.start : a.end < b.end
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.writeInt64(start)
        writer.writeInt64(end)
    }

    public init(from reader: inout BinaryReader) throws {
        start = try reader.readInt64()
        end = try reader.readInt64()
    }

    /// Flink's `TimeWindow.getWindowStartWithOffset`.
    public static func start(for timestamp: Int64, offset: Int64, size: Int64) -> Int64 {
        let remainder = (timestamp - offset) % size
        return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder
    }
}

/// Assigns each record to zero or more windows (Flink's WindowAssigner). Merging assigners
/// (sessions) get their overlapping windows merged per key.
public protocol WindowAssigner: Sendable {
    /// The windows of a record with event time `timestamp` (nil for processing time) seen at
    /// processing time `now`.
    func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow]
    /// Whether windows follow event time (watermarks) or the processing-time clock.
    var domain: TimeDomain { get }
    /// Session windows: overlapping windows of a key are merged into one.
    var isMerging: Bool { get }
    /// The trigger used unless `WindowedStream.trigger(_:)` sets another.
    var defaultTrigger: DefaultTrigger { get }
}

/// The built-in trigger an assigner comes with.
public enum DefaultTrigger: Sendable {
    /// Fires at the window's end on the watermark, and again for each late record within lateness.
    case eventTime
    /// Fires when the clock passes the window's end.
    case processingTime
    /// Never fires (global windows).
    case never
}

extension WindowAssigner {
    public var isMerging: Bool { false }
    public var defaultTrigger: DefaultTrigger { domain == .eventTime ? .eventTime : .processingTime }
}

/// The fast path: assigners whose every record falls into exactly one aligned window.
protocol TumblingAssigner: WindowAssigner {
    var sizeMillis: Int64 { get }
    var offsetMillis: Int64 { get }
}

extension TumblingAssigner {
    func windowStart(for timestamp: Int64) -> Int64 { TimeWindow.start(for: timestamp, offset: offsetMillis, size: sizeMillis) }

    public func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow] {
        let start = windowStart(for: domain == .eventTime ? (timestamp ?? now) : now)
        return [TimeWindow(start: start, end: start + sizeMillis)]
    }
}

/// Tumbling windows over event time: a window fires when the watermark passes its end.
public struct TumblingEventTimeWindows: TumblingAssigner {
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
public struct TumblingProcessingTimeWindows: TumblingAssigner {
    public let sizeMillis: Int64
    public let offsetMillis: Int64
    public var domain: TimeDomain { .processingTime }
    public init(sizeMillis: Int64, offsetMillis: Int64 = 0) {
        self.sizeMillis = max(1, sizeMillis)
        self.offsetMillis = offsetMillis
    }
}

/// Sliding (hopping) windows of `sizeMillis` starting every `slideMillis`: a record belongs to
/// `size / slide` windows (rounded up).
protocol SlidingAssigner: WindowAssigner {
    var sizeMillis: Int64 { get }
    var slideMillis: Int64 { get }
    var offsetMillis: Int64 { get }
}

extension SlidingAssigner {
    public func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow] {
        let time = domain == .eventTime ? (timestamp ?? now) : now
        var windows: [TimeWindow] = []
        // Latest window first, as Flink's SlidingEventTimeWindows does.
        var start = TimeWindow.start(for: time, offset: offsetMillis, size: slideMillis)
        while start > time - sizeMillis {
            windows.append(TimeWindow(start: start, end: start + sizeMillis))
            start -= slideMillis
        }
        return windows
    }
}

/// Sliding windows over event time: size, slide and offset in milliseconds.
public struct SlidingEventTimeWindows: SlidingAssigner {
    public let sizeMillis: Int64
    public let slideMillis: Int64
    public let offsetMillis: Int64
    public var domain: TimeDomain { .eventTime }
    public init(sizeMillis: Int64, slideMillis: Int64, offsetMillis: Int64 = 0) {
        self.sizeMillis = max(1, sizeMillis)
        self.slideMillis = max(1, slideMillis)
        self.offsetMillis = offsetMillis
    }
}

/// Sliding windows over processing time.
public struct SlidingProcessingTimeWindows: SlidingAssigner {
    public let sizeMillis: Int64
    public let slideMillis: Int64
    public let offsetMillis: Int64
    public var domain: TimeDomain { .processingTime }
    public init(sizeMillis: Int64, slideMillis: Int64, offsetMillis: Int64 = 0) {
        self.sizeMillis = max(1, sizeMillis)
        self.slideMillis = max(1, slideMillis)
        self.offsetMillis = offsetMillis
    }
}

/// Session windows over event time: a record opens [t, t + gap); windows of a key that overlap
/// are merged, so a session ends after `gapMillis` without records. A late record can bridge two
/// sessions into one.
public struct EventTimeSessionWindows: WindowAssigner {
    public let gapMillis: Int64
    public var domain: TimeDomain { .eventTime }
    public var isMerging: Bool { true }
    public init(gapMillis: Int64) { self.gapMillis = max(1, gapMillis) }
    public func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow] {
        let time = timestamp ?? now
        return [TimeWindow(start: time, end: time + gapMillis)]
    }
}

/// Session windows over processing time (the clock when a record is processed).
public struct ProcessingTimeSessionWindows: WindowAssigner {
    public let gapMillis: Int64
    public var domain: TimeDomain { .processingTime }
    public var isMerging: Bool { true }
    public init(gapMillis: Int64) { self.gapMillis = max(1, gapMillis) }
    public func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow] {
        [TimeWindow(start: now, end: now + gapMillis)]
    }
}

/// One window per key holding every record; it never fires by itself: give it a trigger
/// (`countWindow(n)` does: a purging count trigger).
public struct GlobalWindows: WindowAssigner {
    public init() {}
    /// Not event time: records need no timestamp and are never late (as Flink's GlobalWindows).
    public var domain: TimeDomain { .processingTime }
    public var defaultTrigger: DefaultTrigger { .never }
    public func assignWindows(timestamp: Int64?, now: Int64) -> [TimeWindow] { [.global] }
}
