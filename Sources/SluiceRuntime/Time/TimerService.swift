import HeapModule

/// A timer: fires for `key` at `timestamp` (event time or processing time).
struct TimerKey<Key: Hashable>: Hashable {
    let key: Key
    let timestamp: Int64
}

private struct QueuedTimer<Key: Hashable>: Comparable {
    let timestamp: Int64
    let sequence: UInt64
    let key: Key
    let keyGroupIndex: Int

    static func < (a: Self, b: Self) -> Bool {
        a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.sequence < b.sequence
    }
    static func == (a: Self, b: Self) -> Bool { a.timestamp == b.timestamp && a.sequence == b.sequence }
}

/// The timers of one kind of one keyed operator subtask: a priority queue by time (ties fire in
/// registration order), deduplicated per (key, timestamp), snapshotted per key group with the
/// keyed state.
final class TimerQueue<Key: Hashable & Sendable>: KeyGroupPartitionedTable {
    let name: String
    let kind: KeyedStateKind
    private let keySerializer: AnyStateSerializer<Key>
    private var perGroup: [Set<TimerKey<Key>>]
    private var heap = Heap<QueuedTimer<Key>>()
    private var sequence: UInt64 = 0

    init(name: String, kind: KeyedStateKind, keyGroupCount: Int, keySerializer: AnyStateSerializer<Key>) {
        self.name = name
        self.kind = kind
        self.keySerializer = keySerializer
        perGroup = Array(repeating: [], count: keyGroupCount)
    }

    func register(key: Key, keyGroupIndex: Int, timestamp: Int64) {
        let timer = TimerKey(key: key, timestamp: timestamp)
        guard perGroup[keyGroupIndex].insert(timer).inserted else { return }
        sequence += 1
        heap.insert(QueuedTimer(timestamp: timestamp, sequence: sequence, key: key, keyGroupIndex: keyGroupIndex))
    }

    /// Removal is lazy: the heap entry is skipped when it surfaces.
    func delete(key: Key, keyGroupIndex: Int, timestamp: Int64) {
        perGroup[keyGroupIndex].remove(TimerKey(key: key, timestamp: timestamp))
    }

    var nextTimestamp: Int64? {
        while let top = heap.min {
            if perGroup[top.keyGroupIndex].contains(TimerKey(key: top.key, timestamp: top.timestamp)) { return top.timestamp }
            _ = heap.popMin()
        }
        return nil
    }

    /// Removes and returns the earliest timer due at or before `time`.
    func popDue(atOrBefore time: Int64) -> (key: Key, keyGroupIndex: Int, timestamp: Int64)? {
        while let top = heap.min, top.timestamp <= time {
            _ = heap.popMin()
            if perGroup[top.keyGroupIndex].remove(TimerKey(key: top.key, timestamp: top.timestamp)) != nil {
                return (top.key, top.keyGroupIndex, top.timestamp)
            }
        }
        return nil
    }

    var count: Int { perGroup.reduce(0) { $0 + $1.count } }

    func isEmpty(keyGroupIndex index: Int) -> Bool { perGroup[index].isEmpty }

    func write(keyGroupIndex index: Int, to writer: inout BinaryWriter) throws {
        // Sorted so restored timers keep firing in time order for equal timestamps too.
        let timers = perGroup[index].sorted { $0.timestamp < $1.timestamp }
        writer.writeVarUInt(UInt64(timers.count))
        for timer in timers {
            try keySerializer.serialize(timer.key, into: &writer)
            writer.writeInt64(timer.timestamp)
        }
    }

    func read(keyGroupIndex index: Int, from reader: inout BinaryReader) throws {
        let count = try reader.readVarInt()
        for _ in 0..<count {
            let key = try keySerializer.deserialize(from: &reader)
            register(key: key, keyGroupIndex: index, timestamp: try reader.readInt64())
        }
    }
}

/// What a keyed function uses to read time and register timers for the current key.
public final class TimerService<Key: Hashable & Sendable> {
    let eventTimers: TimerQueue<Key>
    let processingTimers: TimerQueue<Key>
    let keyContext: KeyContext<Key>
    let clock: any RuntimeClock
    public internal(set) var currentWatermark: Int64 = Watermark.min

    init(eventTimers: TimerQueue<Key>, processingTimers: TimerQueue<Key>, keyContext: KeyContext<Key>, clock: any RuntimeClock) {
        self.eventTimers = eventTimers
        self.processingTimers = processingTimers
        self.keyContext = keyContext
        self.clock = clock
    }

    public var currentProcessingTime: Int64 { clock.nowMillis() }

    private var key: Key {
        guard let key = keyContext.key else { preconditionFailure("Timers were used outside of a keyed context (no current key).") }
        return key
    }

    public func registerEventTimeTimer(_ timestamp: Int64) {
        eventTimers.register(key: key, keyGroupIndex: keyContext.index, timestamp: timestamp)
    }

    public func deleteEventTimeTimer(_ timestamp: Int64) {
        eventTimers.delete(key: key, keyGroupIndex: keyContext.index, timestamp: timestamp)
    }

    public func registerProcessingTimeTimer(_ timestamp: Int64) {
        processingTimers.register(key: key, keyGroupIndex: keyContext.index, timestamp: timestamp)
    }

    public func deleteProcessingTimeTimer(_ timestamp: Int64) {
        processingTimers.delete(key: key, keyGroupIndex: keyContext.index, timestamp: timestamp)
    }
}
