/// Errors registering or restoring state; each says what to change.
public enum StateError: Error, CustomStringConvertible {
    case kindMismatch(name: String, registered: String, requested: String)
    case noCurrentKey(state: String)
    case corruptSnapshot(String)

    public var description: String {
        switch self {
        case .kindMismatch(let name, let registered, let requested):
            return "State '\(name)' is a \(registered) but was requested as a \(requested): use a different state name."
        case .noCurrentKey(let state):
            return "Keyed state '\(state)' was used outside of a keyed context (no current key)."
        case .corruptSnapshot(let why):
            return "A keyed state snapshot is damaged: \(why)"
        }
    }
}

/// Kind tags stored with each state in the snapshot, so a restore detects a changed state type.
enum KeyedStateKind: UInt8, CustomStringConvertible {
    case value = 1, list = 2, map = 3, eventTimers = 4, processingTimers = 5
    var description: String {
        switch self {
        case .value: "value state"
        case .list: "list state"
        case .map: "map state"
        case .eventTimers: "event-time timer set"
        case .processingTimers: "processing-time timer set"
        }
    }
}

/// Something the keyed backend snapshots per key group: a state table or a timer set.
protocol KeyGroupPartitionedTable: AnyObject {
    var name: String { get }
    var kind: KeyedStateKind { get }
    /// Writes the entries of key group `range.start + index`.
    func write(keyGroupIndex index: Int, to writer: inout BinaryWriter) throws
    /// Adds restored entries of key group `range.start + index`.
    func read(keyGroupIndex index: Int, from reader: inout BinaryReader) throws
    func isEmpty(keyGroupIndex index: Int) -> Bool
}

/// Where the backend keeps the current key; shared by all its states.
final class KeyContext<Key: Hashable> {
    var key: Key?
    /// Key group minus the range start.
    var index = 0
}

/// Heap keyed state of one operator subtask: per state, one dictionary per key group, so that a
/// snapshot can be written per key group and split on rescale.
final class HeapKeyedStateBackend<Key: Hashable & Sendable> {
    let keyGroupRange: KeyGroupRange
    let maxParallelism: Int
    let keySerializer: AnyStateSerializer<Key>
    let context = KeyContext<Key>()
    private var tables: [String: any KeyGroupPartitionedTable] = [:]
    private var tableOrder: [String] = []
    /// Restored bytes of states not registered yet: name -> (kind, key group -> payload).
    private var restoredRaw: [String: (kind: UInt8, payloads: [Int: (bytes: [UInt8], range: Range<Int>)])] = [:]

    init(keyGroupRange: KeyGroupRange, maxParallelism: Int, keySerializer: AnyStateSerializer<Key>) {
        self.keyGroupRange = keyGroupRange
        self.maxParallelism = maxParallelism
        self.keySerializer = keySerializer
    }

    // Called for every record and timer. Generic, storing the key costs a metadata lookup of
    // `Optional<Key>` per call; the usual key types get copies without it (the generic entry point
    // checks the type and jumps to them).
    @_specialize(exported: false, where Key == String)
    @_specialize(exported: false, where Key == Int)
    @_specialize(exported: false, where Key == Int64)
    func setCurrentKey(_ key: Key, keyGroup: Int) {
        context.key = key
        context.index = keyGroup - keyGroupRange.start
    }

    /// Sets the key and computes its key group, in one specialised step for the usual key types
    /// (the keyed operators' per-record path).
    @_specialize(exported: false, where Key == String)
    @_specialize(exported: false, where Key == Int)
    @_specialize(exported: false, where Key == Int64)
    func setCurrentKey(_ key: Key) where Key: StableHashable {
        setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: maxParallelism))
    }

    // MARK: registration

    private func register<T: KeyGroupPartitionedTable>(_ name: String, kind: KeyedStateKind, make: () -> T) throws -> T {
        if let existing = tables[name] {
            guard let typed = existing as? T else {
                throw StateError.kindMismatch(name: name, registered: existing.kind.description, requested: kind.description)
            }
            return typed
        }
        let table = make()
        if let raw = restoredRaw.removeValue(forKey: name) {
            guard raw.kind == kind.rawValue else {
                throw StateError.kindMismatch(
                    name: name, registered: KeyedStateKind(rawValue: raw.kind)?.description ?? "kind \(raw.kind)",
                    requested: kind.description)
            }
            for (keyGroup, payload) in raw.payloads {
                var reader = BinaryReader(payload.bytes, range: payload.range)
                try table.read(keyGroupIndex: keyGroup - keyGroupRange.start, from: &reader)
            }
        }
        tables[name] = table
        tableOrder.append(name)
        return table
    }

    func valueState<V>(_ descriptor: ValueStateDescriptor<V>) throws -> ValueState<V> {
        try register(descriptor.name, kind: .value) {
            HeapValueState<Key, V>(name: descriptor.name, backend: self, serializer: descriptor.serializer)
        }
    }

    func listState<V>(_ descriptor: ListStateDescriptor<V>) throws -> ListState<V> {
        try register(descriptor.name, kind: .list) {
            HeapListState<Key, V>(name: descriptor.name, backend: self, serializer: descriptor.serializer)
        }
    }

    func mapState<MK: Hashable, MV>(_ descriptor: MapStateDescriptor<MK, MV>) throws -> MapState<MK, MV> {
        try register(descriptor.name, kind: .map) {
            HeapMapState<Key, MK, MV>(
                name: descriptor.name, backend: self,
                keySerializer: descriptor.keySerializer, valueSerializer: descriptor.valueSerializer)
        }
    }

    func registerTable<T: KeyGroupPartitionedTable>(_ name: String, kind: KeyedStateKind, make: () -> T) throws -> T {
        try register(name, kind: kind, make: make)
    }

    // MARK: snapshot and restore

    /// The keyed blob: key-group range, an offset per key group, then per key group the states
    /// that have entries in it (name, kind, length-prefixed payload).
    func snapshot() throws -> [UInt8] {
        let count = keyGroupRange.count
        var writer = BinaryWriter(capacity: 64 * 1024)
        writer.writeUInt32(UInt32(keyGroupRange.start))
        writer.writeUInt32(UInt32(max(0, count)))
        let offsetsAt = writer.count
        for _ in 0...count { writer.writeUInt64(0) }
        let dataStart = writer.count
        var offsets: [UInt64] = []
        offsets.reserveCapacity(count + 1)
        for index in 0..<count {
            offsets.append(UInt64(writer.count - dataStart))
            let keyGroup = keyGroupRange.start + index
            var present: [any KeyGroupPartitionedTable] = []
            for name in tableOrder {
                if let table = tables[name], !table.isEmpty(keyGroupIndex: index) { present.append(table) }
            }
            let rawPresent = restoredRaw.filter { $0.value.payloads[keyGroup] != nil }
            writer.writeVarUInt(UInt64(present.count + rawPresent.count))
            for table in present {
                writer.writeString(table.name)
                writer.writeUInt8(table.kind.rawValue)
                let lengthAt = writer.reserveUInt64()
                let start = writer.count
                try table.write(keyGroupIndex: index, to: &writer)
                writer.patchUInt64(UInt64(writer.count - start), at: lengthAt)
            }
            for (name, raw) in rawPresent {
                guard let payload = raw.payloads[keyGroup] else { continue }
                writer.writeString(name)
                writer.writeUInt8(raw.kind)
                writer.writeUInt64(UInt64(payload.range.count))
                writer.writeRaw(payload.bytes[payload.range])
            }
        }
        offsets.append(UInt64(writer.count - dataStart))
        for (i, offset) in offsets.enumerated() { writer.patchUInt64(offset, at: offsetsAt + 8 * i) }
        return writer.bytes
    }

    /// Takes the key groups of this backend's range out of keyed blobs written by any old subtask.
    /// States are materialized when an operator registers them.
    func restore(from blobs: [[UInt8]]) throws {
        for blob in blobs {
            var reader = BinaryReader(blob)
            let start = Int(try reader.readUInt32())
            let count = Int(try reader.readUInt32())
            var offsets: [Int] = []
            offsets.reserveCapacity(count + 1)
            for _ in 0...count { offsets.append(Int(try reader.readUInt64())) }
            let dataStart = reader.position
            let oldRange = KeyGroupRange(start: start, end: start + count - 1)
            let overlap = oldRange.intersection(keyGroupRange)
            guard let groups = overlap.keyGroups else { continue }
            for keyGroup in groups {
                let i = keyGroup - start
                let lower = dataStart + offsets[i]
                let upper = dataStart + offsets[i + 1]
                guard lower <= upper, upper <= blob.count else {
                    throw StateError.corruptSnapshot("key group \(keyGroup) points outside the blob")
                }
                var section = BinaryReader(blob, range: lower..<upper)
                let states = try section.readVarInt()
                for _ in 0..<states {
                    let name = try section.readString()
                    let kind = try section.readUInt8()
                    let length = Int(try section.readUInt64())
                    let payloadStart = section.position
                    try section.skip(length)
                    var entry = restoredRaw[name] ?? (kind: kind, payloads: [:])
                    entry.payloads[keyGroup] = (blob, payloadStart..<(payloadStart + length))
                    restoredRaw[name] = entry
                }
            }
        }
    }
}

/// Heap value state: `maps[keyGroupIndex][key]`.
final class HeapValueState<Key: Hashable & Sendable, Value>: ValueState<Value>, KeyGroupPartitionedTable {
    let name: String
    var kind: KeyedStateKind { .value }
    private let context: KeyContext<Key>
    private let keySerializer: AnyStateSerializer<Key>
    private let serializer: AnyStateSerializer<Value>
    private var maps: [[Key: Value]]

    init(name: String, backend: HeapKeyedStateBackend<Key>, serializer: AnyStateSerializer<Value>) {
        self.name = name
        self.context = backend.context
        self.keySerializer = backend.keySerializer
        self.serializer = serializer
        maps = Array(repeating: [:], count: backend.keyGroupRange.count)
    }

    override func value() -> Value? {
        guard let key = context.key else { return nil }
        return maps[context.index][key]
    }

    override func update(_ value: Value?) {
        guard let key = context.key else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        maps[context.index][key] = value
    }

    func isEmpty(keyGroupIndex index: Int) -> Bool { maps[index].isEmpty }

    func write(keyGroupIndex index: Int, to writer: inout BinaryWriter) throws {
        let map = maps[index]
        writer.writeVarUInt(UInt64(map.count))
        for (key, value) in map {
            try keySerializer.serialize(key, into: &writer)
            try serializer.serialize(value, into: &writer)
        }
    }

    func read(keyGroupIndex index: Int, from reader: inout BinaryReader) throws {
        let count = try reader.readVarInt()
        maps[index].reserveCapacity(maps[index].count + count)
        for _ in 0..<count {
            let key = try keySerializer.deserialize(from: &reader)
            maps[index][key] = try serializer.deserialize(from: &reader)
        }
    }
}

/// Heap list state.
final class HeapListState<Key: Hashable & Sendable, Element>: ListState<Element>, KeyGroupPartitionedTable {
    let name: String
    var kind: KeyedStateKind { .list }
    private let context: KeyContext<Key>
    private let keySerializer: AnyStateSerializer<Key>
    private let serializer: AnyStateSerializer<Element>
    private var maps: [[Key: [Element]]]

    init(name: String, backend: HeapKeyedStateBackend<Key>, serializer: AnyStateSerializer<Element>) {
        self.name = name
        self.context = backend.context
        self.keySerializer = backend.keySerializer
        self.serializer = serializer
        maps = Array(repeating: [:], count: backend.keyGroupRange.count)
    }

    private var key: Key {
        guard let key = context.key else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        return key
    }

    override func get() -> [Element] {
        guard let key = context.key else { return [] }
        return maps[context.index][key] ?? []
    }

    override func add(_ element: Element) { maps[context.index][key, default: []].append(element) }

    override func update(_ elements: [Element]) {
        maps[context.index][key] = elements.isEmpty ? nil : elements
    }

    func isEmpty(keyGroupIndex index: Int) -> Bool { maps[index].isEmpty }

    func write(keyGroupIndex index: Int, to writer: inout BinaryWriter) throws {
        let map = maps[index]
        writer.writeVarUInt(UInt64(map.count))
        for (key, list) in map {
            try keySerializer.serialize(key, into: &writer)
            writer.writeVarUInt(UInt64(list.count))
            for element in list { try serializer.serialize(element, into: &writer) }
        }
    }

    func read(keyGroupIndex index: Int, from reader: inout BinaryReader) throws {
        let count = try reader.readVarInt()
        for _ in 0..<count {
            let key = try keySerializer.deserialize(from: &reader)
            let n = try reader.readVarInt()
            var list: [Element] = []
            list.reserveCapacity(min(n, reader.remaining))
            for _ in 0..<n { list.append(try serializer.deserialize(from: &reader)) }
            maps[index][key] = list
        }
    }
}

/// Heap map state.
final class HeapMapState<Key: Hashable & Sendable, MapKey: Hashable, MapValue>: MapState<MapKey, MapValue>, KeyGroupPartitionedTable {
    let name: String
    var kind: KeyedStateKind { .map }
    private let context: KeyContext<Key>
    private let keySerializer: AnyStateSerializer<Key>
    private let mapKeySerializer: AnyStateSerializer<MapKey>
    private let valueSerializer: AnyStateSerializer<MapValue>
    private var maps: [[Key: [MapKey: MapValue]]]

    init(
        name: String, backend: HeapKeyedStateBackend<Key>,
        keySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<MapValue>
    ) {
        self.name = name
        self.context = backend.context
        self.keySerializer = backend.keySerializer
        self.mapKeySerializer = keySerializer
        self.valueSerializer = valueSerializer
        maps = Array(repeating: [:], count: backend.keyGroupRange.count)
    }

    private var key: Key {
        guard let key = context.key else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        return key
    }

    override func get(_ mapKey: MapKey) -> MapValue? {
        guard let key = context.key else { return nil }
        return maps[context.index][key]?[mapKey]
    }

    override func put(_ mapKey: MapKey, _ value: MapValue) {
        maps[context.index][key, default: [:]][mapKey] = value
    }

    override func remove(_ mapKey: MapKey) {
        let key = self.key
        let index = context.index
        guard maps[index][key] != nil else { return }
        maps[index][key]?[mapKey] = nil
        if maps[index][key]?.isEmpty == true { maps[index][key] = nil }
    }

    override func entries() -> [(key: MapKey, value: MapValue)] {
        guard let key = context.key, let map = maps[context.index][key] else { return [] }
        return map.map { (key: $0.key, value: $0.value) }
    }

    override var isEmpty: Bool {
        guard let key = context.key else { return true }
        return maps[context.index][key]?.isEmpty ?? true
    }

    override func clear() { maps[context.index][key] = nil }

    func isEmpty(keyGroupIndex index: Int) -> Bool { maps[index].isEmpty }

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

/// The snapshot form of one key group of a map-per-key table (map state, window tables): the key
/// count, then per key its map's size and entries.
enum NestedMapCoding {
    static func write<Key, MapKey, Value>(
        _ map: [Key: [MapKey: Value]], to writer: inout BinaryWriter, keySerializer: AnyStateSerializer<Key>,
        mapKeySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<Value>
    ) throws {
        writer.writeVarUInt(UInt64(map.count))
        for (key, inner) in map {
            try keySerializer.serialize(key, into: &writer)
            writer.writeVarUInt(UInt64(inner.count))
            for (mapKey, value) in inner {
                try mapKeySerializer.serialize(mapKey, into: &writer)
                try valueSerializer.serialize(value, into: &writer)
            }
        }
    }

    /// Reads one key group's entries, handing each key's map to `store`.
    static func read<Key, MapKey: Hashable, Value>(
        from reader: inout BinaryReader, keySerializer: AnyStateSerializer<Key>,
        mapKeySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<Value>,
        store: (Key, [MapKey: Value]) -> Void
    ) throws {
        let count = try reader.readVarInt()
        for _ in 0..<count {
            let key = try keySerializer.deserialize(from: &reader)
            let n = try reader.readVarInt()
            var inner: [MapKey: Value] = [:]
            inner.reserveCapacity(min(n, reader.remaining))
            for _ in 0..<n {
                let mapKey = try mapKeySerializer.deserialize(from: &reader)
                inner[mapKey] = try valueSerializer.deserialize(from: &reader)
            }
            store(key, inner)
        }
    }
}
