/// Time-to-live of keyed state entries (Flink's `StateTtlConfig`), on processing time from the
/// runtime's clock (`RuntimeConfiguration.clock`, so a `ManualClock` makes expiry deterministic).
///
/// An entry written (or, with `.onReadAndWrite`, also read) at time `t` expires at `t + ttlMillis`:
/// from then on it is never returned. Expired entries are removed
/// - when they are read (Flink's default cleanup on read),
/// - incrementally: every TTL state keeps an expiry queue per key group; each processed record
///   checks up to `incrementalCleanupSize` due keys (Flink's `cleanupIncrementally`),
/// - before every snapshot, so no expired entry is written into a checkpoint or savepoint
///   (Flink's `cleanupFullSnapshot`).
/// List and map states keep one timestamp per element / per map entry, as in Flink.
///
/// A state's TTL setting is part of its stored format: a state written without TTL cannot be
/// restored into a descriptor with TTL (or the reverse), as in Flink.
public struct StateTtlConfig: Sendable, Equatable {
    /// When the last-access timestamp of an entry is refreshed.
    public enum UpdateType: Sendable, Equatable {
        /// Only on creation and on every write.
        case onCreateAndWrite
        /// Also on every read.
        case onReadAndWrite
    }

    /// Whether an expired entry that was not cleaned up yet may be returned.
    public enum Visibility: Sendable, Equatable {
        /// Never: an expired entry reads as absent.
        case neverReturnExpired
    }

    public var ttlMillis: Int64
    public var updateType: UpdateType
    public var visibility: Visibility
    /// Due keys checked per processed record; 0 turns incremental cleanup off (cleanup on read
    /// and before snapshots stays on).
    public var incrementalCleanupSize: Int

    public init(
        ttlMillis: Int64, updateType: UpdateType = .onCreateAndWrite, visibility: Visibility = .neverReturnExpired,
        incrementalCleanupSize: Int = 5
    ) {
        self.ttlMillis = ttlMillis
        self.updateType = updateType
        self.visibility = visibility
        self.incrementalCleanupSize = incrementalCleanupSize
    }

    /// The time at which an entry last accessed at `timestamp` expires (saturating).
    func expiry(of timestamp: Int64) -> Int64 {
        let (sum, overflow) = timestamp.addingReportingOverflow(ttlMillis)
        return overflow ? Int64.max : sum
    }

    /// Flink's rule: expired once `timestamp + ttl <= now`.
    func isExpired(_ timestamp: Int64, now: Int64) -> Bool { expiry(of: timestamp) <= now }
}

/// A value with the time it was last accessed; what TTL states store.
struct TtlValue<Value> {
    var value: Value
    var timestamp: Int64
}

/// Stores the timestamp (8 bytes) before the user value.
struct TtlValueSerializer<Value>: StateSerializer {
    let inner: AnyStateSerializer<Value>

    func serialize(_ value: TtlValue<Value>, into writer: inout BinaryWriter) throws {
        writer.writeInt64(value.timestamp)
        try inner.serialize(value.value, into: &writer)
    }

    func deserialize(from reader: inout BinaryReader) throws -> TtlValue<Value> {
        let timestamp = try reader.readInt64()
        return TtlValue(value: try inner.deserialize(from: &reader), timestamp: timestamp)
    }
}

/// What a TTL state does for the cleanup passes: drop the current key's expired entries and say
/// when its next remaining entry expires.
protocol TtlCleanable: AnyObject {
    /// Removes the current key's expired entries; returns the earliest expiry left, if any.
    func removeExpiredOfCurrentKey(now: Int64) -> Int64?
}

/// Schedules an expiry check for the current key of one TTL state.
struct TtlScheduler {
    let schedule: (Int64) -> Void
}

/// The expiry queues of the TTL states of one keyed operator subtask. Each TTL state has a queue
/// (a `TimerQueue` registered in the keyed backend as `_ttl_<state>`, so it is snapshotted and
/// split by key group with the state it indexes). Invariant: every key with a stored entry has a
/// queued check at or before its earliest expiry; a check that finds live entries re-queues the
/// key at their earliest expiry.
final class TtlCleanup<Key: StateKey> {
    private struct Entry {
        let queue: TimerQueue<Key>
        let state: any TtlCleanable
        let incrementalSize: Int
    }

    /// Registers a queue as a timer table of the keyed backend (so any backend can hold it).
    typealias RegisterQueue = (_ name: String, _ make: () -> TimerQueue<Key>) throws -> TimerQueue<Key>
    /// Sets the backend's current key (key, absolute key group): a backend may derive more from
    /// the key than `KeyContext` holds (e.g. its serialized form), so the key is never set directly.
    typealias SetCurrentKey = (_ key: Key, _ keyGroup: Int) -> Void

    private let context: KeyContext<Key>
    private let keyGroupRange: KeyGroupRange
    private let keySerializer: AnyStateSerializer<Key>
    private let registerQueue: RegisterQueue
    private let setCurrentKey: SetCurrentKey
    let clock: any RuntimeClock
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    init(
        context: KeyContext<Key>, keyGroupRange: KeyGroupRange, keySerializer: AnyStateSerializer<Key>, clock: any RuntimeClock,
        registerQueue: @escaping RegisterQueue, setCurrentKey: @escaping SetCurrentKey
    ) {
        self.context = context
        self.keyGroupRange = keyGroupRange
        self.keySerializer = keySerializer
        self.clock = clock
        self.registerQueue = registerQueue
        self.setCurrentKey = setCurrentKey
    }

    var isActive: Bool { !order.isEmpty }

    /// The TTL state registered under `name`, made by `make` (with its expiry scheduler) on first use.
    func state<S: TtlCleanable>(_ name: String, config: StateTtlConfig, make: (TtlScheduler) throws -> S) throws -> S {
        if let existing = entries[name] {
            guard let typed = existing.state as? S else {
                throw StateError.kindMismatch(
                    name: name, registered: "\(type(of: existing.state))", requested: "\(S.self)")
            }
            return typed
        }
        let queueName = "_ttl_\(name)"
        let keySerializer = self.keySerializer
        let count = keyGroupRange.count
        let queue = try registerQueue(queueName) {
            TimerQueue<Key>(name: queueName, kind: .processingTimers, keyGroupCount: count, keySerializer: keySerializer)
        }
        let context = self.context
        let scheduler = TtlScheduler { expiry in
            guard let key = context.key else { return }
            queue.register(key: key, keyGroupIndex: context.index, timestamp: expiry)
        }
        let state = try make(scheduler)
        entries[name] = Entry(queue: queue, state: state, incrementalSize: config.incrementalCleanupSize)
        order.append(name)
        return state
    }

    /// Incremental pass: up to each state's `incrementalCleanupSize` due keys.
    func cleanupIncrementally() { run(limitPerState: nil) }

    /// Full pass (before a snapshot): every due key of every TTL state.
    func cleanupAll() { run(limitPerState: Int.max) }

    /// Number of queued expiry checks (for tests).
    var queuedChecks: Int { order.reduce(0) { $0 + (entries[$1]?.queue.count ?? 0) } }

    private func run(limitPerState: Int?) {
        let now = clock.nowMillis()
        let savedKey = context.key
        let savedKeyGroup = context.index + keyGroupRange.start
        defer {
            if let savedKey { setCurrentKey(savedKey, savedKeyGroup) }
        }
        for name in order {
            guard let entry = entries[name] else { continue }
            var budget = limitPerState ?? entry.incrementalSize
            while budget > 0, let due = entry.queue.popDue(atOrBefore: now) {
                budget -= 1
                setCurrentKey(due.key, due.keyGroupIndex + keyGroupRange.start)
                // `next > now` always holds (what remains is unexpired); checked so a pass can never loop.
                if let next = entry.state.removeExpiredOfCurrentKey(now: now), next > now {
                    entry.queue.register(key: due.key, keyGroupIndex: due.keyGroupIndex, timestamp: next)
                }
            }
        }
    }
}

/// Value state with TTL over a value state of `TtlValue`s.
final class TtlValueState<Value>: ValueState<Value>, TtlCleanable {
    private let inner: ValueState<TtlValue<Value>>
    private let config: StateTtlConfig
    private let clock: any RuntimeClock
    private let scheduler: TtlScheduler

    init(inner: ValueState<TtlValue<Value>>, config: StateTtlConfig, clock: any RuntimeClock, scheduler: TtlScheduler) {
        self.inner = inner
        self.config = config
        self.clock = clock
        self.scheduler = scheduler
    }

    override func value() -> Value? {
        guard let stored = inner.value() else { return nil }
        let now = clock.nowMillis()
        if config.isExpired(stored.timestamp, now: now) {
            inner.update(nil)
            return nil
        }
        if config.updateType == .onReadAndWrite, stored.timestamp != now {
            inner.update(TtlValue(value: stored.value, timestamp: now))
        }
        return stored.value
    }

    override func update(_ value: Value?) {
        guard let value else {
            inner.update(nil)
            return
        }
        let now = clock.nowMillis()
        let hadEntry = inner.value() != nil
        inner.update(TtlValue(value: value, timestamp: now))
        if !hadEntry { scheduler.schedule(config.expiry(of: now)) }
    }

    func removeExpiredOfCurrentKey(now: Int64) -> Int64? {
        guard let stored = inner.value() else { return nil }
        if config.isExpired(stored.timestamp, now: now) {
            inner.update(nil)
            return nil
        }
        return config.expiry(of: stored.timestamp)
    }
}

/// List state with a TTL per element.
final class TtlListState<Element>: ListState<Element>, TtlCleanable {
    private let inner: ListState<TtlValue<Element>>
    private let config: StateTtlConfig
    private let clock: any RuntimeClock
    private let scheduler: TtlScheduler

    init(inner: ListState<TtlValue<Element>>, config: StateTtlConfig, clock: any RuntimeClock, scheduler: TtlScheduler) {
        self.inner = inner
        self.config = config
        self.clock = clock
        self.scheduler = scheduler
    }

    override func get() -> [Element] {
        let stored = inner.get()
        guard !stored.isEmpty else { return [] }
        let now = clock.nowMillis()
        let live = stored.filter { !config.isExpired($0.timestamp, now: now) }
        if config.updateType == .onReadAndWrite {
            inner.update(live.map { TtlValue(value: $0.value, timestamp: now) })
        } else if live.count != stored.count {
            inner.update(live)
        }
        return live.map(\.value)
    }

    override func add(_ element: Element) {
        let now = clock.nowMillis()
        let wasEmpty = inner.get().isEmpty
        inner.add(TtlValue(value: element, timestamp: now))
        if wasEmpty { scheduler.schedule(config.expiry(of: now)) }
    }

    override func update(_ elements: [Element]) {
        let now = clock.nowMillis()
        let wasEmpty = inner.get().isEmpty
        inner.update(elements.map { TtlValue(value: $0, timestamp: now) })
        if wasEmpty, !elements.isEmpty { scheduler.schedule(config.expiry(of: now)) }
    }

    override func clear() { inner.update([]) }

    func removeExpiredOfCurrentKey(now: Int64) -> Int64? {
        let stored = inner.get()
        let live = stored.filter { !config.isExpired($0.timestamp, now: now) }
        if live.count != stored.count { inner.update(live) }
        return live.map { config.expiry(of: $0.timestamp) }.min()
    }
}

/// Map state with a TTL per map entry.
final class TtlMapState<MapKey: Hashable, MapValue>: MapState<MapKey, MapValue>, TtlCleanable {
    private let inner: MapState<MapKey, TtlValue<MapValue>>
    private let config: StateTtlConfig
    private let clock: any RuntimeClock
    private let scheduler: TtlScheduler

    init(inner: MapState<MapKey, TtlValue<MapValue>>, config: StateTtlConfig, clock: any RuntimeClock, scheduler: TtlScheduler) {
        self.inner = inner
        self.config = config
        self.clock = clock
        self.scheduler = scheduler
    }

    override func get(_ key: MapKey) -> MapValue? {
        guard let stored = inner.get(key) else { return nil }
        let now = clock.nowMillis()
        if config.isExpired(stored.timestamp, now: now) {
            inner.remove(key)
            return nil
        }
        if config.updateType == .onReadAndWrite, stored.timestamp != now {
            inner.put(key, TtlValue(value: stored.value, timestamp: now))
        }
        return stored.value
    }

    override func put(_ key: MapKey, _ value: MapValue) {
        let now = clock.nowMillis()
        let wasEmpty = inner.isEmpty
        inner.put(key, TtlValue(value: value, timestamp: now))
        if wasEmpty { scheduler.schedule(config.expiry(of: now)) }
    }

    override func remove(_ key: MapKey) { inner.remove(key) }

    override func entries() -> [(key: MapKey, value: MapValue)] {
        let now = clock.nowMillis()
        var result: [(key: MapKey, value: MapValue)] = []
        for (key, stored) in inner.entries() {
            if config.isExpired(stored.timestamp, now: now) {
                inner.remove(key)
                continue
            }
            if config.updateType == .onReadAndWrite, stored.timestamp != now {
                inner.put(key, TtlValue(value: stored.value, timestamp: now))
            }
            result.append((key: key, value: stored.value))
        }
        return result
    }

    override var isEmpty: Bool {
        let now = clock.nowMillis()
        return !inner.entries().contains { !config.isExpired($0.value.timestamp, now: now) }
    }

    override func clear() { inner.clear() }

    func removeExpiredOfCurrentKey(now: Int64) -> Int64? {
        var next: Int64?
        for (key, stored) in inner.entries() {
            if config.isExpired(stored.timestamp, now: now) {
                inner.remove(key)
            } else {
                let expiry = config.expiry(of: stored.timestamp)
                next = min(next ?? expiry, expiry)
            }
        }
        return next
    }
}
