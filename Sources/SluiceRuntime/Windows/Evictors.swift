/// A record kept in a window with its event time (nil in processing-time jobs).
public struct TimestampedValue<Value> {
    public var value: Value
    public var timestamp: Int64?
    public init(_ value: Value, timestamp: Int64?) {
        self.value = value
        self.timestamp = timestamp
    }
}

extension TimestampedValue: Sendable where Value: Sendable {}
extension TimestampedValue: Equatable where Value: Equatable {}
extension TimestampedValue: Codable where Value: Codable {}
extension TimestampedValue: BinaryCodable where Value: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) {
        value.encode(to: &writer)
        timestamp.encode(to: &writer)
    }
    public init(from reader: inout BinaryReader) throws {
        value = try Value(from: &reader)
        timestamp = try Int64?(from: &reader)
    }
}

/// Time seen by an evictor.
public struct EvictorContext: Sendable {
    public let currentWatermark: Int64
    public let currentProcessingTime: Int64
}

/// Removes records from a firing window before and/or after the window function runs (Flink's
/// Evictor). The records left after `evictAfter` stay in the window for its next firing.
public protocol Evictor<Element>: Sendable {
    associatedtype Element
    func evictBefore(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext)
    func evictAfter(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext)
}

/// Keeps at most the last `maxCount` records of a window (before the function, or after it when
/// `evictAfter`).
public struct CountEvictor<Element>: Evictor {
    public let maxCount: Int
    public let doEvictAfter: Bool
    public init(_ maxCount: Int, evictAfter: Bool = false) {
        self.maxCount = max(0, maxCount)
        self.doEvictAfter = evictAfter
    }
    public func evictBefore(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext) {
        if !doEvictAfter { evict(&elements) }
    }
    public func evictAfter(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext) {
        if doEvictAfter { evict(&elements) }
    }
    private func evict(_ elements: inout [TimestampedValue<Element>]) {
        if elements.count > maxCount { elements.removeFirst(elements.count - maxCount) }
    }
}

/// Keeps only records whose timestamp is within `windowMillis` of the newest record's
/// (drops those with timestamp <= newest - windowMillis). Records without a timestamp are kept.
public struct TimeEvictor<Element>: Evictor {
    public let windowMillis: Int64
    public let doEvictAfter: Bool
    public init(windowMillis: Int64, evictAfter: Bool = false) {
        self.windowMillis = windowMillis
        self.doEvictAfter = evictAfter
    }
    public func evictBefore(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext) {
        if !doEvictAfter { evict(&elements) }
    }
    public func evictAfter(_ elements: inout [TimestampedValue<Element>], window: TimeWindow, context: EvictorContext) {
        if doEvictAfter { evict(&elements) }
    }
    private func evict(_ elements: inout [TimestampedValue<Element>]) {
        guard let newest = elements.compactMap(\.timestamp).max() else { return }
        let cutoff = newest - windowMillis
        elements.removeAll { ($0.timestamp ?? Int64.max) <= cutoff }
    }
}
