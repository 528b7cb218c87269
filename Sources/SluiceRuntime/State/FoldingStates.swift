/// Keyed states that fold every added value into one stored value (Flink's ReducingState and
/// AggregatingState). Both are stored as a keyed value state under their name, so every keyed
/// backend that offers value state offers them, TTL included.

/// Names a keyed reducing state: `add` combines the value with the stored one by `reduce`.
public struct ReducingStateDescriptor<Value>: Sendable {
    public let name: String
    public let serializer: AnyStateSerializer<Value>
    public let reduce: @Sendable (Value, Value) throws -> Value
    /// Time-to-live of the reduced value; nil: it never expires.
    public var ttlConfig: StateTtlConfig?

    public init<S: StateSerializer>(
        _ name: String, serializer: S, reduce: @escaping @Sendable (Value, Value) throws -> Value
    ) where S.Value == Value {
        self.name = name
        self.serializer = AnyStateSerializer(serializer)
        self.reduce = reduce
    }

    public init(_ name: String, _ type: Value.Type = Value.self, reduce: @escaping @Sendable (Value, Value) throws -> Value)
    where Value: BinaryCodable {
        self.init(name, serializer: BinaryCodableSerializer<Value>(), reduce: reduce)
    }

    @_disfavoredOverload
    public init(_ name: String, _ type: Value.Type = Value.self, reduce: @escaping @Sendable (Value, Value) throws -> Value)
    where Value: Codable {
        self.init(name, serializer: CodableSerializer<Value>(), reduce: reduce)
    }

    var valueDescriptor: ValueStateDescriptor<Value> {
        var descriptor = ValueStateDescriptor(name, serializer: serializer)
        descriptor.ttlConfig = ttlConfig
        return descriptor
    }
}

/// Names a keyed aggregating state: `add` folds inputs into an accumulator with an
/// `AggregateFunction`; `get` returns the function's result.
public struct AggregatingStateDescriptor<Function: AggregateFunction>: Sendable {
    public let name: String
    public let function: Function
    public let accumulatorSerializer: AnyStateSerializer<Function.Accumulator>
    /// Time-to-live of the accumulator; nil: it never expires.
    public var ttlConfig: StateTtlConfig?

    public init<S: StateSerializer>(_ name: String, function: Function, accumulatorSerializer: S)
    where S.Value == Function.Accumulator {
        self.name = name
        self.function = function
        self.accumulatorSerializer = AnyStateSerializer(accumulatorSerializer)
    }

    public init(_ name: String, function: Function) where Function.Accumulator: BinaryCodable {
        self.init(name, function: function, accumulatorSerializer: BinaryCodableSerializer<Function.Accumulator>())
    }

    @_disfavoredOverload
    public init(_ name: String, function: Function) where Function.Accumulator: Codable {
        self.init(name, function: function, accumulatorSerializer: CodableSerializer<Function.Accumulator>())
    }

    var valueDescriptor: ValueStateDescriptor<Function.Accumulator> {
        var descriptor = ValueStateDescriptor(name, serializer: accumulatorSerializer)
        descriptor.ttlConfig = ttlConfig
        return descriptor
    }
}

/// One value per key that every `add` reduces into (Flink's ReducingState).
public final class ReducingState<Value> {
    private let stored: ValueState<Value>
    private let reduce: @Sendable (Value, Value) throws -> Value

    init(stored: ValueState<Value>, reduce: @escaping @Sendable (Value, Value) throws -> Value) {
        self.stored = stored
        self.reduce = reduce
    }

    /// The reduced value, or nil when nothing was added (or it expired).
    public func get() -> Value? { stored.value() }

    /// Reduces `value` into the stored value (or stores it when there is none).
    public func add(_ value: Value) throws {
        if let current = stored.value() {
            stored.update(try reduce(current, value))
        } else {
            stored.update(value)
        }
    }

    public func clear() { stored.clear() }
}

/// An accumulator per key that every `add` folds into (Flink's AggregatingState).
public final class AggregatingState<Function: AggregateFunction> {
    private let stored: ValueState<Function.Accumulator>
    private let function: Function

    init(stored: ValueState<Function.Accumulator>, function: Function) {
        self.stored = stored
        self.function = function
    }

    /// The result for the accumulated inputs, or nil when nothing was added (or it expired).
    public func get() -> Function.Result? { stored.value().map(function.result) }

    public func add(_ value: Function.Input) {
        var accumulator = stored.value() ?? function.createAccumulator()
        function.add(value, to: &accumulator)
        stored.update(accumulator)
    }

    public func clear() { stored.clear() }
}
