/// The keyed state kinds a keyed function can register. Value, list and map states come from the
/// keyed backend; a TTL state wraps the backend state of `TtlValue`s; reducing and aggregating
/// states are value states underneath. So every kind works on any keyed backend.
extension KeyedContext {
    public func state<V>(_ descriptor: ValueStateDescriptor<V>) throws -> ValueState<V> {
        guard let config = descriptor.ttlConfig else { return try backend.valueState(descriptor) }
        let inner = try backend.valueState(ValueStateDescriptor<TtlValue<V>>(
            descriptor.name, serializer: TtlValueSerializer(inner: descriptor.serializer)))
        let clock = ttl.clock
        return try ttl.state(descriptor.name, config: config) { scheduler in
            TtlValueState(inner: inner, config: config, clock: clock, scheduler: scheduler)
        }
    }

    public func listState<V>(_ descriptor: ListStateDescriptor<V>) throws -> ListState<V> {
        guard let config = descriptor.ttlConfig else { return try backend.listState(descriptor) }
        let inner = try backend.listState(ListStateDescriptor<TtlValue<V>>(
            descriptor.name, serializer: TtlValueSerializer(inner: descriptor.serializer)))
        let clock = ttl.clock
        return try ttl.state(descriptor.name, config: config) { scheduler in
            TtlListState(inner: inner, config: config, clock: clock, scheduler: scheduler)
        }
    }

    public func mapState<MK: Hashable, MV>(_ descriptor: MapStateDescriptor<MK, MV>) throws -> MapState<MK, MV> {
        guard let config = descriptor.ttlConfig else { return try backend.mapState(descriptor) }
        let inner = try backend.mapState(MapStateDescriptor<MK, TtlValue<MV>>(
            descriptor.name, keySerializer: descriptor.keySerializer,
            valueSerializer: TtlValueSerializer(inner: descriptor.valueSerializer)))
        let clock = ttl.clock
        return try ttl.state(descriptor.name, config: config) { scheduler in
            TtlMapState(inner: inner, config: config, clock: clock, scheduler: scheduler)
        }
    }

    public func reducingState<V>(_ descriptor: ReducingStateDescriptor<V>) throws -> ReducingState<V> {
        ReducingState(stored: try state(descriptor.valueDescriptor), reduce: descriptor.reduce)
    }

    public func aggregatingState<F: AggregateFunction>(_ descriptor: AggregatingStateDescriptor<F>) throws -> AggregatingState<F> {
        AggregatingState(stored: try state(descriptor.valueDescriptor), function: descriptor.function)
    }
}

/// A keyed state descriptor that can carry a time-to-live.
public protocol TimeToLiveConfigurable {
    var ttlConfig: StateTtlConfig? { get set }
}

extension TimeToLiveConfigurable {
    /// This descriptor with entries that expire (Flink's `enableTimeToLive`).
    public func withTimeToLive(_ config: StateTtlConfig) -> Self {
        var copy = self
        copy.ttlConfig = config
        return copy
    }
}

extension ValueStateDescriptor: TimeToLiveConfigurable {}
extension ListStateDescriptor: TimeToLiveConfigurable {}
extension MapStateDescriptor: TimeToLiveConfigurable {}
extension ReducingStateDescriptor: TimeToLiveConfigurable {}
extension AggregatingStateDescriptor: TimeToLiveConfigurable {}
