/// Two-input streams (Flink's `connect`): `ConnectedStreams` / `KeyedConnectedStreams` for
/// co-process functions, `BroadcastStream` for broadcast state.
///
/// Each side is tagged into a shared `CoInput` type by a stateless map chained behind its producer
/// (same parallelism); the two-input operator is a vertex with one input edge per side. So its
/// watermark is the minimum over all channels of both inputs, and checkpoint barriers align over
/// both, exactly as for a union.

extension DataStream {
    /// Connects two streams of possibly different types for a `CoProcessFunction` or `map(_:_:)`.
    public func connect<Other: Sendable>(_ other: DataStream<Other>) -> ConnectedStreams<T, Other> {
        ConnectedStreams(first: self, second: other)
    }

    /// Declares this stream as the broadcast side of a broadcast connection: every element goes
    /// to every subtask of the operator, which keeps the declared broadcast states.
    public func broadcast(_ state: any BroadcastStateDeclaration, _ more: any BroadcastStateDeclaration...) -> BroadcastStream<T> {
        BroadcastStream(stream: self, stateNames: [state.name] + more.map(\.name))
    }

    /// Connects this (non-keyed) stream to a broadcast stream for a `BroadcastProcessFunction`.
    public func connect<B: Sendable>(_ broadcast: BroadcastStream<B>) -> BroadcastConnectedStream<T, B> {
        BroadcastConnectedStream(stream: self, broadcast: broadcast)
    }

    /// The stream with every element wrapped as one side of a two-input operator; the tagging map
    /// takes the producer's parallelism so it is chained to it.
    func tagged<Tagged: Sendable>(
        as name: String, _ tag: @escaping @Sendable (T) -> Tagged
    ) -> DataStream<Tagged> {
        let draft = env.add(
            name: name, parallelism: env.draft(nodeId)?.parallelism,
            inputs: [StreamEdge(source: nodeId, partitioner: .automatic, sideOutput: sideOutput)], role: .transform,
            factory: TypedNodeFactory<T, Tagged> { setup, output in MapOperator(setup: setup, output: output, function: tag) })
        return DataStream<Tagged>(env: env, nodeId: draft.id)
    }
}

/// Two connected streams (Flink's ConnectedStreams).
public struct ConnectedStreams<First: Sendable, Second: Sendable> {
    let first: DataStream<First>
    let second: DataStream<Second>

    /// Partitions both sides by key so equal keys of both sides meet on one subtask.
    public func keyBy<K: StateKey>(
        _ key1: @escaping @Sendable (First) -> K, _ key2: @escaping @Sendable (Second) -> K
    ) -> KeyedConnectedStreams<K, First, Second> {
        KeyedConnectedStreams(first: first, second: second, key1: key1, key2: key2)
    }

    /// Runs a `CoProcessFunction`; `function` is evaluated once per subtask.
    public func process<F: CoProcessFunction>(
        name: String = "CoProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Input1 == First, F.Input2 == Second {
        build(name: name) { setup, output in CoProcessOperator(setup: setup, output: output, function: function()) }
    }

    /// One map per side into a common type (Flink's CoMapFunction).
    public func map<U: Sendable>(
        name: String = "CoMap", _ map1: @escaping @Sendable (First) throws -> U, _ map2: @escaping @Sendable (Second) throws -> U
    ) -> DataStream<U> {
        build(name: name) { setup, output in
            CoProcessOperator(setup: setup, output: output, function: CoMapFunction(map1: map1, map2: map2))
        }
    }

    private func build<Out: Sendable>(
        name: String, _ make: @escaping @Sendable (OperatorSetup, Output<Out>) throws -> StreamOperatorBase
    ) -> DataStream<Out> {
        typealias Both = CoInput<First, Second>
        let left = first.tagged(as: "\(name)-input1") { Both.first($0) }
        let right = second.tagged(as: "\(name)-input2") { Both.second($0) }
        return first.env.addTwoInput(
            name: name,
            edges: [
                StreamEdge(source: left.nodeId, partitioner: first.partitioner),
                StreamEdge(source: right.nodeId, partitioner: second.partitioner),
            ],
            make: make, inputType: Both.self)
    }
}

extension StreamExecutionEnvironment {
    /// Adds a two-input operator: one vertex of input type `In` (the tagged union of both sides)
    /// with one input edge per side.
    func addTwoInput<In: Sendable, Out: Sendable>(
        name: String, edges: [StreamEdge],
        make: @escaping @Sendable (OperatorSetup, Output<Out>) throws -> StreamOperatorBase, inputType: In.Type
    ) -> DataStream<Out> {
        let draft = add(name: name, parallelism: nil, inputs: edges, role: .transform, factory: TypedNodeFactory<In, Out>(make: make))
        return DataStream<Out>(env: self, nodeId: draft.id)
    }
}

extension KeyedStream {
    /// Connects two keyed streams with the same key type (Flink's `keyed.connect(keyed)`).
    public func connect<Other: Sendable>(_ other: KeyedStream<Key, Other>) -> KeyedConnectedStreams<Key, T, Other> {
        KeyedConnectedStreams(first: stream, second: other.stream, key1: keySelector, key2: other.keySelector)
    }

    /// Connects this keyed stream to a broadcast stream for a `KeyedBroadcastProcessFunction`.
    public func connect<B: Sendable>(_ broadcast: BroadcastStream<B>) -> KeyedBroadcastConnectedStream<Key, T, B> {
        KeyedBroadcastConnectedStream(keyed: self, broadcast: broadcast)
    }
}

/// Two connected streams partitioned by key (Flink's keyed ConnectedStreams).
public struct KeyedConnectedStreams<Key: StateKey, First: Sendable, Second: Sendable> {
    let first: DataStream<First>
    let second: DataStream<Second>
    let key1: @Sendable (First) -> Key
    let key2: @Sendable (Second) -> Key

    /// Runs a `KeyedCoProcessFunction` with keyed state and timers shared by both sides.
    public func process<F: KeyedCoProcessFunction>(
        name: String = "KeyedCoProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Key == Key, F.Input1 == First, F.Input2 == Second {
        typealias Both = CoInput<First, Second>
        let key1 = self.key1
        let key2 = self.key2
        let selector: @Sendable (Both) -> Key = { element in
            switch element {
            case .first(let value): return key1(value)
            case .second(let value): return key2(value)
            }
        }
        let env = first.env
        let maxParallelism = env.configuration.maxParallelism
        let keyGroupOf: @Sendable (Both) -> Int = { KeyGroups.keyGroup(for: selector($0), maxParallelism: maxParallelism) }
        let hash = EdgePartitioner.hash(keyGroupOf: keyGroupOf, maxParallelism: maxParallelism)
        let left = first.tagged(as: "\(name)-input1") { Both.first($0) }
        let right = second.tagged(as: "\(name)-input2") { Both.second($0) }
        return env.addTwoInput(
            name: name,
            edges: [StreamEdge(source: left.nodeId, partitioner: hash), StreamEdge(source: right.nodeId, partitioner: hash)],
            make: { setup, output in
                try KeyedCoProcessOperator(setup: setup, output: output, keySelector: selector, function: function())
            },
            inputType: Both.self)
    }
}

/// A stream whose elements go to every subtask of the operator it is connected to, with the
/// broadcast states it declares (Flink's BroadcastStream).
public struct BroadcastStream<T: Sendable> {
    let stream: DataStream<T>
    let stateNames: [String]
}

/// A keyed stream connected to a broadcast stream.
public struct KeyedBroadcastConnectedStream<Key: StateKey, T: Sendable, B: Sendable> {
    let keyed: KeyedStream<Key, T>
    let broadcast: BroadcastStream<B>

    /// Runs a `KeyedBroadcastProcessFunction`; `function` is evaluated once per subtask.
    public func process<F: KeyedBroadcastProcessFunction>(
        name: String = "KeyedBroadcastProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Key == Key, F.Input == T, F.BroadcastInput == B {
        typealias Both = CoInput<T, B>
        let key = keyed.keySelector
        let env = keyed.env
        let maxParallelism = env.configuration.maxParallelism
        // Only the keyed side travels over this hash edge.
        let keyGroupOf: @Sendable (Both) -> Int = { element in
            if case .first(let value) = element { return KeyGroups.keyGroup(for: key(value), maxParallelism: maxParallelism) }
            return 0
        }
        let left = keyed.stream.tagged(as: "\(name)-input") { Both.first($0) }
        let right = broadcast.stream.tagged(as: "\(name)-broadcast") { Both.second($0) }
        let declared = broadcast.stateNames
        return env.addTwoInput(
            name: name,
            edges: [
                StreamEdge(source: left.nodeId, partitioner: .hash(keyGroupOf: keyGroupOf, maxParallelism: maxParallelism)),
                StreamEdge(source: right.nodeId, partitioner: .broadcast),
            ],
            make: { setup, output in
                try KeyedBroadcastProcessOperator(
                    setup: setup, output: output, keySelector: key, declared: declared, function: function())
            },
            inputType: Both.self)
    }
}

/// A non-keyed stream connected to a broadcast stream.
public struct BroadcastConnectedStream<T: Sendable, B: Sendable> {
    let stream: DataStream<T>
    let broadcast: BroadcastStream<B>

    /// Runs a `BroadcastProcessFunction`; `function` is evaluated once per subtask.
    public func process<F: BroadcastProcessFunction>(
        name: String = "BroadcastProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Input == T, F.BroadcastInput == B {
        typealias Both = CoInput<T, B>
        let left = stream.tagged(as: "\(name)-input") { Both.first($0) }
        let right = broadcast.stream.tagged(as: "\(name)-broadcast") { Both.second($0) }
        let declared = broadcast.stateNames
        return stream.env.addTwoInput(
            name: name,
            edges: [StreamEdge(source: left.nodeId, partitioner: stream.partitioner), StreamEdge(source: right.nodeId, partitioner: .broadcast)],
            make: { setup, output in
                BroadcastProcessOperator(setup: setup, output: output, declared: declared, function: function())
            },
            inputType: Both.self)
    }
}
