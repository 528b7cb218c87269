/// Per key, a map `MapKey -> Value` with in-place updates, snapshotted per key group in the same
/// format as `HeapMapState`. The window operator keeps its contents, merging-window set, trigger
/// values and window timers in such tables (Flink keeps them in state namespaced by window).
/// With the on-disk backend the entries are rows of a disk map state instead (`disk`), so window
/// contents can be larger than memory; the heap maps then stay empty.
final class KeyedMapTable<Key: Hashable & Sendable, MapKey: Hashable, Value>: KeyGroupPartitionedTable {
    let name: String
    var kind: KeyedStateKind { .map }
    private let context: KeyContext<Key>
    private let keySerializer: AnyStateSerializer<Key>
    private let mapKeySerializer: AnyStateSerializer<MapKey>
    private let valueSerializer: AnyStateSerializer<Value>
    private var maps: [[Key: [MapKey: Value]]]
    private var disk: (state: MapState<MapKey, Value>, count: () -> Int)?

    init(
        name: String, backend: any KeyedStateBackend<Key>,
        mapKeySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<Value>
    ) {
        self.name = name
        self.context = backend.context
        self.keySerializer = backend.keySerializer
        self.mapKeySerializer = mapKeySerializer
        self.valueSerializer = valueSerializer
        maps = Array(repeating: [:], count: backend.keyGroupRange.count)
    }

    static func register(_ name: String, in backend: any KeyedStateBackend<Key>, mapKeySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<Value>) throws -> KeyedMapTable {
        if let diskBackend = backend as? DiskKeyedStateBackend<Key> {
            let table = KeyedMapTable(name: name, backend: backend, mapKeySerializer: mapKeySerializer, valueSerializer: valueSerializer)
            let state = try diskBackend.mapState(MapStateDescriptor(name, keySerializer: mapKeySerializer, valueSerializer: valueSerializer))
            table.disk = (state, { diskBackend.rowCount(mapState: name) })
            return table
        }
        return try backend.registerTable(name, kind: .map) {
            KeyedMapTable(name: name, backend: backend, mapKeySerializer: mapKeySerializer, valueSerializer: valueSerializer)
        }
    }

    /// The table is only used inside a keyed context (the operator sets the key first).
    private var key: Key? { context.key }

    // The tumbling window operator's table (window start -> accumulator) for the usual key and
    // accumulator types, run without generic metadata lookups: the generic entry point checks
    // the types once and jumps to these copies.
    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int64)
    func get(_ mapKey: MapKey) -> Value? {
        guard let key else { return nil }
        if let disk { return disk.state.get(mapKey) }
        return maps[context.index][key]?[mapKey]
    }

    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int64)
    func put(_ mapKey: MapKey, _ value: Value?) {
        guard let key else { return }
        if let disk {
            if let value { disk.state.put(mapKey, value) } else { disk.state.remove(mapKey) }
            return
        }
        let index = context.index
        if let value {
            maps[index][key, default: [:]][mapKey] = value
        } else if maps[index][key] != nil {
            maps[index][key]?[mapKey] = nil
            if maps[index][key]?.isEmpty == true { maps[index][key] = nil }
        }
    }

    @discardableResult
    func remove(_ mapKey: MapKey) -> Value? {
        let old = get(mapKey)
        if old != nil { put(mapKey, nil) }
        return old
    }

    /// Replaces the current key's value with `combine(old)` in one lookup per map level (the
    /// per-record step of the tumbling window operator, which otherwise reads twice and writes
    /// once). Returns whether there was no value before.
    ///
    /// Only forwards: a generic body would look up `Optional<Value>`'s metadata in its prologue,
    /// before the check that jumps to a specialised copy, on every call.
    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == String, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int, MapKey == Int64, Value == Int64)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int)
    @_specialize(exported: false, where Key == Int64, MapKey == Int64, Value == Int64)
    func fold(_ mapKey: MapKey, _ combine: (Value?) -> Value) -> Bool {
        foldInPlace(mapKey, combine)
    }

    @inline(never)
    private func foldInPlace(_ mapKey: MapKey, _ combine: (Value?) -> Value) -> Bool {
        guard let key else { return false }
        if let disk {
            let old = disk.state.get(mapKey)
            disk.state.put(mapKey, combine(old))
            return old == nil
        }
        return Self.replace(&maps[context.index][key, default: [:]][mapKey], with: combine)
    }

    @inline(__always)
    private static func replace(_ slot: inout Value?, with combine: (Value?) -> Value) -> Bool {
        let wasAbsent = slot == nil
        slot = combine(slot)
        return wasAbsent
    }

    /// Updates the value in place (no copy of a buffered list); nil afterwards removes it.
    func modify<R>(_ mapKey: MapKey, _ body: (inout Value?) throws -> R) rethrows -> R {
        guard let key else {
            var none: Value?
            return try body(&none)
        }
        if let disk {
            // Read, change, write back (a disk row cannot be changed in place).
            var value = disk.state.get(mapKey)
            let result = try body(&value)
            if let value { disk.state.put(mapKey, value) } else { disk.state.remove(mapKey) }
            return result
        }
        let index = context.index
        let result = try body(&maps[index][key, default: [:]][mapKey])
        if maps[index][key]?.isEmpty == true { maps[index][key] = nil }
        return result
    }

    /// All entries of the current key.
    var entries: [MapKey: Value] {
        guard let key else { return [:] }
        if let disk { return Dictionary(disk.state.entries().map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }) }
        return maps[context.index][key] ?? [:]
    }

    func isEmpty(keyGroupIndex index: Int) -> Bool { maps[index].isEmpty }

    /// Entries over all keys (tests check that state is cleaned up).
    var totalCount: Int {
        if let disk { return disk.count() }
        return maps.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
    }

    func write(keyGroupIndex index: Int, to writer: inout BinaryWriter) throws {
        try NestedMapCoding.write(
            maps[index], to: &writer, keySerializer: keySerializer, mapKeySerializer: mapKeySerializer, valueSerializer: valueSerializer)
    }

    func read(keyGroupIndex index: Int, from reader: inout BinaryReader) throws {
        try NestedMapCoding.read(
            from: &reader, keySerializer: keySerializer, mapKeySerializer: mapKeySerializer, valueSerializer: valueSerializer
        ) { key, inner in maps[index][key] = inner }
    }
}

/// A timer of the window operator: time and clock; the windows waiting for it are the value.
struct WindowTimerSlot: Hashable, BinaryCodable {
    let timestamp: Int64
    let domain: TimeDomain

    init(timestamp: Int64, domain: TimeDomain) {
        self.timestamp = timestamp
        self.domain = domain
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeInt64(timestamp)
        writer.writeUInt8(domain == .eventTime ? 0 : 1)
    }

    init(from reader: inout BinaryReader) throws {
        timestamp = try reader.readInt64()
        domain = try reader.readUInt8() == 0 ? .eventTime : .processingTime
    }
}

/// A trigger's named value for one window.
struct TriggerValueKey: Hashable, BinaryCodable {
    let window: TimeWindow
    let name: String

    init(window: TimeWindow, name: String) {
        self.window = window
        self.name = name
    }

    func encode(to writer: inout BinaryWriter) {
        window.encode(to: &writer)
        writer.writeString(name)
    }

    init(from reader: inout BinaryReader) throws {
        window = try TimeWindow(from: &reader)
        name = try reader.readString()
    }
}

/// Merges overlapping windows (Flink's `TimeWindow.mergeWindows`): sorted by start, a window that
/// intersects the running cover joins it. Returns only covers of two or more windows.
func mergeOverlapping(_ windows: [TimeWindow]) -> [(cover: TimeWindow, members: [TimeWindow])] {
    var groups: [(cover: TimeWindow, members: [TimeWindow])] = []
    for window in windows.sorted() {
        if let last = groups.last, last.cover.intersects(window) {
            groups[groups.count - 1] = (last.cover.cover(window), last.members + [window])
        } else {
            groups.append((window, [window]))
        }
    }
    return groups.filter { $0.members.count > 1 }
}
