/// Broadcast state (Flink's BroadcastState): a map that every parallel subtask of a broadcast
/// operator holds in the same version, written only from broadcast elements (which every subtask
/// receives in the same order) and read from the other input. It is operator state with the
/// `.broadcast` distribution: every subtask checkpoints its copy; on restore subtask i takes old
/// subtask i's copy (`i % oldParallelism` when scaling up), so rescaling keeps it complete.

/// Something that names a broadcast state when declaring a `BroadcastStream`.
public protocol BroadcastStateDeclaration {
    var name: String { get }
}

extension MapStateDescriptor: BroadcastStateDeclaration {}

/// Errors using broadcast state; each says what to change.
public enum BroadcastStateError: Error, CustomStringConvertible {
    case notDeclared(name: String, declared: [String])
    case notABroadcastOperator(name: String)

    public var description: String {
        switch self {
        case .notDeclared(let name, let declared):
            return "Broadcast state '\(name)' was not declared: pass its descriptor to broadcast(...) (declared: \(declared.sorted()))."
        case .notABroadcastOperator(let name):
            return "Broadcast state '\(name)' was requested outside of a broadcast process function: connect the stream to a BroadcastStream first."
        }
    }
}

/// The read-write broadcast state of one subtask (only in `processBroadcastElement`).
public final class BroadcastState<MapKey: Hashable, MapValue>: SnapshottableListState {
    public let name: String
    private let keySerializer: AnyStateSerializer<MapKey>
    private let valueSerializer: AnyStateSerializer<MapValue>
    private var map: [MapKey: MapValue]

    init(descriptor: MapStateDescriptor<MapKey, MapValue>, storedName: String, restored: [[UInt8]]) throws {
        name = storedName
        keySerializer = descriptor.keySerializer
        valueSerializer = descriptor.valueSerializer
        map = [:]
        for entry in restored {
            var reader = BinaryReader(entry)
            let key = try keySerializer.deserialize(from: &reader)
            map[key] = try valueSerializer.deserialize(from: &reader)
        }
    }

    var distribution: OperatorStateDistribution { .broadcast }

    func serializedEntries() throws -> [[UInt8]] {
        try map.map { key, value in
            var writer = BinaryWriter(capacity: 32)
            try keySerializer.serialize(key, into: &writer)
            try valueSerializer.serialize(value, into: &writer)
            return writer.bytes
        }
    }

    public func get(_ key: MapKey) -> MapValue? { map[key] }
    public func contains(_ key: MapKey) -> Bool { map[key] != nil }
    public func entries() -> [(key: MapKey, value: MapValue)] { map.map { (key: $0.key, value: $0.value) } }
    public var count: Int { map.count }
    public var isEmpty: Bool { map.isEmpty }
    public func put(_ key: MapKey, _ value: MapValue) { map[key] = value }
    public func remove(_ key: MapKey) { map[key] = nil }
    public func clear() { map.removeAll() }
}

/// The read-only view of a broadcast state (in `processElement`).
public struct ReadOnlyBroadcastState<MapKey: Hashable, MapValue> {
    private let state: BroadcastState<MapKey, MapValue>

    init(_ state: BroadcastState<MapKey, MapValue>) {
        self.state = state
    }

    public func get(_ key: MapKey) -> MapValue? { state.get(key) }
    public func contains(_ key: MapKey) -> Bool { state.contains(key) }
    public func entries() -> [(key: MapKey, value: MapValue)] { state.entries() }
    public var count: Int { state.count }
    public var isEmpty: Bool { state.isEmpty }
}

/// The broadcast states of one operator subtask, kept in its operator state store.
final class BroadcastStateStore {
    private let store: OperatorStateStore
    let declared: [String]

    init(store: OperatorStateStore, declared: [String]) {
        self.store = store
        self.declared = declared
    }

    func state<K: Hashable, V>(_ descriptor: MapStateDescriptor<K, V>) throws -> BroadcastState<K, V> {
        guard declared.contains(descriptor.name) else {
            throw BroadcastStateError.notDeclared(name: descriptor.name, declared: declared)
        }
        // Prefixed so a broadcast state never collides with an operator list state of the same name.
        let storedName = "_broadcast_\(descriptor.name)"
        return try store.register(storedName) { restored in
            try BroadcastState(descriptor: descriptor, storedName: storedName, restored: restored)
        }
    }
}

extension KeyedContext {
    /// A broadcast state, read-only (in a `KeyedBroadcastProcessFunction`'s `processElement`).
    public func broadcastState<K: Hashable, V>(_ descriptor: MapStateDescriptor<K, V>) throws -> ReadOnlyBroadcastState<K, V> {
        guard let broadcastStates else { throw BroadcastStateError.notABroadcastOperator(name: descriptor.name) }
        return ReadOnlyBroadcastState(try broadcastStates.state(descriptor))
    }
}
