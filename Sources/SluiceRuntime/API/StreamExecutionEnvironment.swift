import Foundation
import Logging
import Metrics

/// A vertex while the job is being declared.
final class NodeDraft {
    let id: Int
    var name: String
    var parallelism: Int?
    var inputs: [StreamEdge]
    let role: VertexRole
    let factory: any NodeFactory
    let commitsOnComplete: Bool
    var chainable = true
    /// Side outputs read by some stream: tag id -> typed writer factory.
    var sideOutputs: [String: any SideOutputWiring] = [:]
    /// Problems found while declaring (e.g. one side-output id read with two types).
    var declarationErrors: [String] = []

    init(id: Int, name: String, parallelism: Int?, inputs: [StreamEdge], role: VertexRole, factory: any NodeFactory, commitsOnComplete: Bool) {
        self.id = id
        self.name = name
        self.parallelism = parallelism
        self.inputs = inputs
        self.role = role
        self.factory = factory
        self.commitsOnComplete = commitsOnComplete
    }
}

/// Declares and runs a job (Flink's StreamExecutionEnvironment):
/// ```
/// let env = StreamExecutionEnvironment(configuration)
/// env.fromSource(source, name: "in", watermarkStrategy: .boundedOutOfOrderness(200))
///    .keyBy { $0.page }
///    .window(TumblingEventTimeWindows(sizeMillis: 15_000))
///    .count()
///    .sinkTo(sink, name: "out")
/// try env.execute()
/// ```
/// Declare on one thread; `control` cancels from any thread.
public final class StreamExecutionEnvironment {
    public let configuration: RuntimeConfiguration
    /// Cancels the running job or triggers checkpoints, from any thread.
    public let control = JobControl()
    var drafts: [NodeDraft] = []
    /// Moves keyed records between worker processes (see `KeyedExchange`); nil: `keyBy` stays
    /// inside this process.
    public var keyedExchange: (any KeyedExchange)?

    public init(_ configuration: RuntimeConfiguration = RuntimeConfiguration()) {
        self.configuration = configuration
    }

    func uniqueName(_ name: String) -> String {
        let taken = Set(drafts.map(\.name))
        guard taken.contains(name) else { return name }
        var n = 2
        while taken.contains("\(name)-\(n)") { n += 1 }
        return "\(name)-\(n)"
    }

    func add(
        name: String, parallelism: Int?, inputs: [StreamEdge], role: VertexRole, factory: any NodeFactory,
        commitsOnComplete: Bool = false
    ) -> NodeDraft {
        let draft = NodeDraft(
            id: drafts.count, name: uniqueName(name), parallelism: parallelism, inputs: inputs, role: role,
            factory: factory, commitsOnComplete: commitsOnComplete)
        drafts.append(draft)
        return draft
    }

    func draft(_ id: Int) -> NodeDraft? { drafts.first { $0.id == id } }

    /// A stream read by `parallelism` readers of `source`. The name is the operator id its state
    /// is stored under: keep it stable across versions of the job.
    public func fromSource<S: Source>(
        _ source: S, name: String, parallelism: Int? = nil,
        watermarkStrategy: WatermarkStrategy<S.Output> = .noWatermarks
    ) -> DataStream<S.Output> {
        let factory = TypedNodeFactory<Never, S.Output> { setup, output in
            SourceOperator(setup: setup, output: output, reader: try source.createReader(subtaskIndex: setup.subtaskIndex), strategy: watermarkStrategy)
        }
        let draft = add(name: name, parallelism: parallelism, inputs: [], role: .source, factory: factory)
        return DataStream(env: self, nodeId: draft.id)
    }

    /// A bounded stream of `elements` (parallelism 1 unless given), with a checkpointed position.
    public func fromCollection<T: Sendable>(
        _ elements: [T], name: String = "Collection", parallelism: Int = 1,
        watermarkStrategy: WatermarkStrategy<T> = .noWatermarks
    ) -> DataStream<T> {
        fromSource(CollectionSource(elements), name: name, parallelism: parallelism, watermarkStrategy: watermarkStrategy)
    }

    /// The frozen graph: parallelism resolved, automatic edges turned into forward or rebalance.
    func jobGraph() throws -> [JobVertex] {
        guard !drafts.isEmpty else { throw RuntimeConfigurationError.invalid("The job has no operators: add a source and a sink before execute().") }
        let parallelism = Dictionary(uniqueKeysWithValues: drafts.map { ($0.id, $0.parallelism ?? configuration.defaultParallelism) })
        if let problem = drafts.lazy.flatMap(\.declarationErrors).first { throw RuntimeConfigurationError.invalid(problem) }
        return try drafts.map { draft in
            let p = parallelism[draft.id] ?? 1
            guard p >= 1, p <= configuration.maxParallelism else {
                throw RuntimeConfigurationError.invalid(
                    "Operator '\(draft.name)' has parallelism \(p); it must be between 1 and maxParallelism (\(configuration.maxParallelism)).")
            }
            let inputs = try draft.inputs.map { edge -> StreamEdge in
                let producer = parallelism[edge.source] ?? 1
                var resolved = edge
                switch edge.partitioner {
                case .automatic:
                    resolved.partitioner = producer == p ? .forward : .rebalance
                case .forward where producer != p:
                    throw RuntimeConfigurationError.invalid(
                        "Operator '\(draft.name)' reads forward from an operator of parallelism \(producer) but has parallelism \(p): use rebalance() or equal parallelism.")
                default:
                    break
                }
                return resolved
            }
            return JobVertex(
                id: draft.id, name: draft.name, parallelism: p, maxParallelism: configuration.maxParallelism,
                keyGroupScope: configuration.keyGroupScope, inputs: inputs, role: draft.role, factory: draft.factory, chainable: draft.chainable,
                commitsOnComplete: draft.commitsOnComplete, sideOutputs: draft.sideOutputs)
        }
    }

    /// Runs the job on this thread until the sources end (after the final checkpoint committed
    /// everything) or it is cancelled. Restores from the latest completed checkpoint in the
    /// checkpoint storage; restarts on failure per the restart strategy; throws when it gives up.
    /// Blocks: call it from a thread of your own, not from Swift's cooperative pool.
    @discardableResult
    public func execute() throws -> JobResult {
        let claim = try claimCheckpointDirectory()
        defer { claim?.release() }
        return try makeExecutor().run()
    }

    /// Runs the job (as `execute()`) starting from a savepoint or checkpoint: its folder or its
    /// `_metadata` file. Throws `CheckpointStorageError.unusableSnapshot` when it cannot be used
    /// (missing, damaged, or of an unknown format version).
    @discardableResult
    public func execute(restoreFrom path: String) throws -> JobResult {
        let claim = try claimCheckpointDirectory()
        defer { claim?.release() }
        return try makeExecutor(restoreFrom: path).run()
    }

    /// Runs the job on a dedicated thread (never on Swift's cooperative pool) and suspends until it
    /// ends; cancelling the calling task cancels the job (e.g. from a ServiceLifecycle service).
    @discardableResult
    public func executeOnDedicatedThread() async throws -> JobResult {
        let claim = try claimCheckpointDirectory()
        defer { claim?.release() }
        let executor = try makeExecutor()
        let control = self.control
        return try await withTaskCancellationHandler {
            try await DedicatedThread.run(name: "sluice job \(configuration.jobName)") { try executor.run() }
        } onCancel: {
            control.cancel()
        }
    }

    /// Claims the checkpoint directory for this run (released when the run ends, or by the kernel
    /// when the process dies): a second job on the same directory fails here, naming the holder.
    func claimCheckpointDirectory() throws -> CheckpointDirectoryLock? {
        guard configuration.checkpointStorage == nil, let directory = configuration.checkpointing.directory else { return nil }
        return try CheckpointDirectoryLock.acquire(directory: directory)
    }

    func makeExecutor(restoreFrom: String? = nil) throws -> JobExecutor {
        let vertices = try jobGraph()
        var configuration = self.configuration
        if let restoreFrom { configuration.restoreFrom = restoreFrom }
        try configuration.validate()
        if configuration.checkpointStorage == nil, configuration.checkpointing.directory == nil,
           !configuration.allowExactlyOnceWithInMemoryCheckpoints,
           let sink = vertices.first(where: { $0.commitsOnComplete }) {
            throw RuntimeConfigurationError.exactlyOnceWithoutDurableCheckpoints(sink: sink.name)
        }
        var initialSnapshot = try configuration.restoreFrom.map { path in
            let (metadata, storage) = try FileSystemCheckpointStorage.openSnapshot(at: path)
            return RestorableSnapshot(path: path, metadata: metadata, storage: storage)
        }
        if configuration.faultInjector == nil { configuration.faultInjector = try FaultInjector.fromEnvironment() }
        let storage: any CheckpointStorage = configuration.checkpointStorage
            ?? configuration.checkpointing.directory.map { FileSystemCheckpointStorage(directory: $0) }
            ?? InMemoryCheckpointStorage()
        if initialSnapshot == nil { initialSnapshot = try storage.stopSavepointToResume(logger: configuration.logger) }
        let metrics = RuntimeMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, jobName: configuration.jobName)
        return JobExecutor(
            vertices: vertices, configuration: configuration, control: control, storage: storage, metrics: metrics,
            initialSnapshot: initialSnapshot)
    }

    /// Cancels the running job (from any thread); `execute()` then returns `.cancelled`.
    public func cancel() { control.cancel() }
}
