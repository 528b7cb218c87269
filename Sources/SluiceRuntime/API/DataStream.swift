/// A stream of `T` being declared (Flink's DataStream). As in Flink, every operator runs with the
/// configuration's `defaultParallelism` unless `setParallelism` (or a `parallelism:` argument) says
/// otherwise; edges between operators of equal parallelism are forward (and chained), others
/// rebalance unless keyed.
public struct DataStream<T: Sendable> {
    let env: StreamExecutionEnvironment
    let nodeId: Int
    /// The partitioner of the next edge out of this stream.
    let partitioner: EdgePartitioner
    /// Set when this stream is a side output (tag id) of node `nodeId`.
    let sideOutput: String?

    init(env: StreamExecutionEnvironment, nodeId: Int, partitioner: EdgePartitioner = .automatic, sideOutput: String? = nil) {
        self.env = env
        self.nodeId = nodeId
        self.partitioner = partitioner
        self.sideOutput = sideOutput
    }

    var edge: StreamEdge { StreamEdge(source: nodeId, partitioner: partitioner, sideOutput: sideOutput) }

    /// The records this stream's operator emitted to `tag` (Flink's getSideOutput): from a keyed
    /// process function's `context.output(tag, value)`, a window function's, or a window's late
    /// data (`WindowedStream.sideOutputLateData`). It is an ordinary stream: any parallelism,
    /// keyBy, checkpoints (barriers and watermarks flow down side edges too).
    public func sideOutput<U: Sendable>(_ tag: OutputTag<U>) -> DataStream<U> {
        if let draft = env.draft(nodeId) {
            if let own = sideOutput {
                draft.declarationErrors.append(
                    "sideOutput('\(tag.id)') was called on side output '\(own)' of '\(draft.name)': only operators have side outputs.")
            } else if let existing = draft.sideOutputs[tag.id], existing.typeID != ObjectIdentifier(U.self) {
                draft.declarationErrors.append(
                    "Side output '\(tag.id)' of '\(draft.name)' is read as \(U.self) and as \(existing.typeName): use one type per tag id.")
            } else {
                draft.sideOutputs[tag.id] = TypedSideOutput<U>()
            }
        }
        return DataStream<U>(env: env, nodeId: nodeId, sideOutput: tag.id)
    }

    func then<Out: Sendable>(
        _ name: String, _ make: @escaping @Sendable (OperatorSetup, Output<Out>) throws -> StreamOperatorBase
    ) -> DataStream<Out> {
        let draft = env.add(
            name: name, parallelism: nil, inputs: [edge], role: .transform,
            factory: TypedNodeFactory<T, Out>(make: make))
        return DataStream<Out>(env: env, nodeId: draft.id)
    }

    /// The operator's name; also the id its state is stored under.
    public var name: String { env.draft(nodeId)?.name ?? "" }

    public func map<U: Sendable>(name: String = "Map", _ transform: @escaping @Sendable (T) throws -> U) -> DataStream<U> {
        then(name) { setup, output in MapOperator(setup: setup, output: output, function: transform) }
    }

    public func filter(name: String = "Filter", _ predicate: @escaping @Sendable (T) throws -> Bool) -> DataStream<T> {
        then(name) { setup, output in FilterOperator(setup: setup, output: output, predicate: predicate) }
    }

    public func flatMap<U: Sendable>(name: String = "FlatMap", _ transform: @escaping @Sendable (T, Collector<U>) throws -> Void) -> DataStream<U> {
        then(name) { setup, output in FlatMapOperator(setup: setup, output: output, function: transform) }
    }

    public func flatMap<U: Sendable>(name: String = "FlatMap", _ transform: @escaping @Sendable (T) throws -> [U]) -> DataStream<U> {
        flatMap(name: name) { (value: T, out: Collector<U>) in
            for element in try transform(value) { try out.collect(element) }
        }
    }

    /// Partitions by key: records with equal keys go to the same subtask (via key groups).
    /// When the job runs as several worker processes with a `KeyedExchange`, the records first
    /// cross the exchange (a repartition topic), so each worker keys the records of its key groups.
    public func keyBy<K: StateKey>(_ key: @escaping @Sendable (T) -> K) -> KeyedStream<K, T> {
        if let exchange = env.keyedExchange, let exchanged = exchange.exchange(self, key: key) {
            return KeyedStream(stream: exchanged, keySelector: key)
        }
        return KeyedStream(stream: self, keySelector: key)
    }

    /// Spreads records round-robin over the next operator's subtasks.
    public func rebalance() -> DataStream<T> { DataStream(env: env, nodeId: nodeId, partitioner: .rebalance, sideOutput: sideOutput) }

    /// Sends every record to every subtask of the next operator.
    public func broadcast() -> DataStream<T> { DataStream(env: env, nodeId: nodeId, partitioner: .broadcast, sideOutput: sideOutput) }

    /// Keeps records on the same subtask index (requires equal parallelism).
    public func forward() -> DataStream<T> { DataStream(env: env, nodeId: nodeId, partitioner: .forward, sideOutput: sideOutput) }

    @discardableResult
    public func setParallelism(_ parallelism: Int) -> DataStream<T> {
        guard refuseOnSideOutput("setParallelism") else { return self }
        env.draft(nodeId)?.parallelism = parallelism
        return self
    }

    /// Starts a new chain at this operator (it gets its own thread).
    @discardableResult
    public func disableChaining() -> DataStream<T> {
        guard refuseOnSideOutput("disableChaining") else { return self }
        env.draft(nodeId)?.chainable = false
        return self
    }

    /// A side output is no operator of its own: settings on it would change its producer.
    private func refuseOnSideOutput(_ call: String) -> Bool {
        guard let sideOutput, let draft = env.draft(nodeId) else { return true }
        draft.declarationErrors.append(
            "\(call)() was called on side output '\(sideOutput)' of '\(draft.name)': call it on the operator that reads the side output.")
        return false
    }

    /// Writes to a two-phase-commit sink (exactly-once). `sink` is evaluated once per subtask
    /// (and again after a restart), so every subtask gets its own instance.
    @discardableResult
    public func sinkTo<S: TwoPhaseCommitSink>(
        _ sink: @autoclosure @escaping @Sendable () -> S, name: String = "Sink", parallelism: Int? = nil
    ) -> DataStreamSink where S.Input == T {
        let draft = env.add(
            name: name, parallelism: parallelism, inputs: [edge], role: .sink,
            factory: TypedNodeFactory<T, Never> { setup, _ in TwoPhaseCommitSinkOperator(setup: setup, sink: sink()) },
            commitsOnComplete: true)
        return DataStreamSink(env: env, nodeId: draft.id)
    }

    /// Writes to a non-transactional sink (at-least-once: flushed at every checkpoint).
    @discardableResult
    public func sinkTo<W: SinkWriter>(
        _ writer: @autoclosure @escaping @Sendable () -> W, name: String = "Sink", parallelism: Int? = nil
    ) -> DataStreamSink where W.Input == T {
        let draft = env.add(
            name: name, parallelism: parallelism, inputs: [edge], role: .sink,
            factory: TypedNodeFactory<T, Never> { setup, _ in SinkWriterOperator(setup: setup, writer: writer()) })
        return DataStreamSink(env: env, nodeId: draft.id)
    }
}

/// The end of a stream.
public struct DataStreamSink {
    let env: StreamExecutionEnvironment
    let nodeId: Int

    @discardableResult
    public func setParallelism(_ parallelism: Int) -> DataStreamSink {
        env.draft(nodeId)?.parallelism = parallelism
        return self
    }

    @discardableResult
    public func disableChaining() -> DataStreamSink {
        env.draft(nodeId)?.chainable = false
        return self
    }
}

/// A stream partitioned by key (Flink's KeyedStream).
public struct KeyedStream<Key: StateKey, T: Sendable> {
    let stream: DataStream<T>
    let keySelector: @Sendable (T) -> Key

    var env: StreamExecutionEnvironment { stream.env }

    var hashEdge: StreamEdge {
        let selector = keySelector
        let maxParallelism = env.configuration.maxParallelism
        if let scope = env.configuration.keyGroupScope, scope.count < maxParallelism, !scope.isEmpty {
            // This process holds only `scope`: its subtasks split it, so route by the key group's
            // place within it (keys from elsewhere never reach a keyed exchange's reader).
            let start = scope.start, last = scope.count - 1
            let keyGroupOf: @Sendable (T) -> Int = {
                min(max(KeyGroups.keyGroup(for: selector($0), maxParallelism: maxParallelism) - start, 0), last)
            }
            return StreamEdge(
                source: stream.nodeId, partitioner: .hash(keyGroupOf: keyGroupOf, maxParallelism: scope.count), sideOutput: stream.sideOutput)
        }
        let keyGroupOf: @Sendable (T) -> Int = { KeyGroups.keyGroup(for: selector($0), maxParallelism: maxParallelism) }
        return StreamEdge(
            source: stream.nodeId, partitioner: .hash(keyGroupOf: keyGroupOf, maxParallelism: maxParallelism), sideOutput: stream.sideOutput)
    }

    func keyedThen<Out: Sendable>(
        _ name: String, _ make: @escaping @Sendable (OperatorSetup, Output<Out>) throws -> StreamOperatorBase
    ) -> DataStream<Out> {
        let draft = env.add(
            name: name, parallelism: nil, inputs: [hashEdge], role: .transform,
            factory: TypedNodeFactory<T, Out>(make: make))
        return DataStream<Out>(env: env, nodeId: draft.id)
    }

    /// Runs a keyed function with state and timers. `function` is evaluated once per subtask.
    public func process<F: KeyedProcessFunction>(
        name: String = "KeyedProcess", _ function: @autoclosure @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Key == Key, F.Input == T {
        let selector = keySelector
        return keyedThen(name) { setup, output in
            try KeyedProcessOperator(setup: setup, output: output, keySelector: selector, function: function())
        }
    }

    /// A map after a hash exchange (each record on its key's subtask).
    public func map<U: Sendable>(name: String = "Map", _ transform: @escaping @Sendable (T) throws -> U) -> DataStream<U> {
        keyedThen(name) { setup, output in MapOperator(setup: setup, output: output, function: transform) }
    }

    public func filter(name: String = "Filter", _ predicate: @escaping @Sendable (T) throws -> Bool) -> DataStream<T> {
        keyedThen(name) { setup, output in FilterOperator(setup: setup, output: output, predicate: predicate) }
    }

    public func flatMap<U: Sendable>(name: String = "FlatMap", _ transform: @escaping @Sendable (T, Collector<U>) throws -> Void) -> DataStream<U> {
        keyedThen(name) { setup, output in FlatMapOperator(setup: setup, output: output, function: transform) }
    }
}
