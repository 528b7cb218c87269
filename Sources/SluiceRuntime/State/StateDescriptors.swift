/// Names a keyed value state and how its values are serialized.
public struct ValueStateDescriptor<Value>: Sendable {
    public let name: String
    public let serializer: AnyStateSerializer<Value>
    /// Time-to-live of the entries; nil: they never expire. See `StateTtlConfig`.
    public var ttlConfig: StateTtlConfig?

    public init<S: StateSerializer>(_ name: String, serializer: S) where S.Value == Value {
        self.name = name
        self.serializer = AnyStateSerializer(serializer)
    }

    public init(_ name: String, _ type: Value.Type = Value.self) where Value: BinaryCodable {
        self.init(name, serializer: BinaryCodableSerializer<Value>())
    }

    @_disfavoredOverload
    public init(_ name: String, _ type: Value.Type = Value.self) where Value: Codable {
        self.init(name, serializer: CodableSerializer<Value>())
    }
}

/// Names a keyed list state.
public struct ListStateDescriptor<Element>: Sendable {
    public let name: String
    public let serializer: AnyStateSerializer<Element>
    /// Time-to-live of each element; nil: they never expire. See `StateTtlConfig`.
    public var ttlConfig: StateTtlConfig?

    public init<S: StateSerializer>(_ name: String, serializer: S) where S.Value == Element {
        self.name = name
        self.serializer = AnyStateSerializer(serializer)
    }

    public init(_ name: String, _ type: Element.Type = Element.self) where Element: BinaryCodable {
        self.init(name, serializer: BinaryCodableSerializer<Element>())
    }

    @_disfavoredOverload
    public init(_ name: String, _ type: Element.Type = Element.self) where Element: Codable {
        self.init(name, serializer: CodableSerializer<Element>())
    }
}

/// Names a keyed map state (a map per key).
public struct MapStateDescriptor<MapKey: Hashable, MapValue>: Sendable {
    public let name: String
    public let keySerializer: AnyStateSerializer<MapKey>
    public let valueSerializer: AnyStateSerializer<MapValue>
    /// Time-to-live of each map entry; nil: they never expire. See `StateTtlConfig`.
    public var ttlConfig: StateTtlConfig?

    public init<KS: StateSerializer, VS: StateSerializer>(_ name: String, keySerializer: KS, valueSerializer: VS)
    where KS.Value == MapKey, VS.Value == MapValue {
        self.name = name
        self.keySerializer = AnyStateSerializer(keySerializer)
        self.valueSerializer = AnyStateSerializer(valueSerializer)
    }

    public init(_ name: String) where MapKey: BinaryCodable, MapValue: BinaryCodable {
        self.init(name, keySerializer: BinaryCodableSerializer<MapKey>(), valueSerializer: BinaryCodableSerializer<MapValue>())
    }

    @_disfavoredOverload
    public init(_ name: String) where MapKey: BinaryCodable, MapValue: Codable {
        self.init(name, keySerializer: BinaryCodableSerializer<MapKey>(), valueSerializer: CodableSerializer<MapValue>())
    }
}

/// One value per key, scoped to the key of the element being processed.
public class ValueState<Value> {
    init() {}
    public func value() -> Value? { nil }
    public func update(_ value: Value?) {}
    public func clear() { update(nil) }
}

/// A list per key.
public class ListState<Element> {
    init() {}
    public func get() -> [Element] { [] }
    public func add(_ element: Element) {}
    public func update(_ elements: [Element]) {}
    public func clear() { update([]) }
}

/// A map per key.
public class MapState<MapKey: Hashable, MapValue> {
    init() {}
    public func get(_ key: MapKey) -> MapValue? { nil }
    public func put(_ key: MapKey, _ value: MapValue) {}
    public func remove(_ key: MapKey) {}
    public func contains(_ key: MapKey) -> Bool { get(key) != nil }
    public func entries() -> [(key: MapKey, value: MapValue)] { [] }
    public var isEmpty: Bool { entries().isEmpty }
    public func clear() {}
}
