import Logging
/// How an edge spreads records over the consumer's subtasks.
enum EdgePartitioner: Sendable {
    /// Forward when the parallelism is equal, rebalance otherwise (Flink's default).
    case automatic
    case forward
    case rebalance
    case broadcast
    /// Holds an `@Sendable (T) -> Int` (record -> key group) of the producer's output type.
    case hash(keyGroupOf: any Sendable, maxParallelism: Int)

    var isForward: Bool {
        if case .forward = self { return true }
        return false
    }
}

struct StreamEdge: Sendable {
    let source: Int
    var partitioner: EdgePartitioner
    /// The side output (tag id) of `source` this edge reads; nil: its main output.
    var sideOutput: String? = nil
}

enum VertexRole: Sendable {
    case source
    case transform
    case sink
}

/// One operator of the job graph; immutable once `execute()` froze the graph.
struct JobVertex: Sendable {
    let id: Int
    /// Unique within the job; also the operator id that state is stored under.
    let name: String
    let parallelism: Int
    let maxParallelism: Int
    /// The key groups this process holds (`RuntimeConfiguration.keyGroupScope`).
    var keyGroupScope: KeyGroupRange? = nil
    let inputs: [StreamEdge]
    let role: VertexRole
    let factory: any NodeFactory
    let chainable: Bool
    /// A two-phase-commit sink: the coordinator's driver waits until its subtasks committed.
    let commitsOnComplete: Bool
    /// Side outputs that some vertex reads: tag id -> typed writer factory.
    var sideOutputs: [String: any SideOutputWiring] = [:]
}

/// An outgoing edge as the producer's writer sees it.
struct OutgoingEdge: Sendable {
    let gates: [any AnyInputGate]
    /// This producer subtask's channel in each gate.
    let channel: Int
    let partitioner: EdgePartitioner
}

/// A link of a running chain: the operator and the typed `Output<In>` that feeds it.
struct ChainLink {
    let op: StreamOperatorBase
    /// `Output<In>` of the vertex's input type, or nil for sources.
    let input: AnyObject?
}

/// Typed construction of one vertex's runtime pieces; implemented once per (In, Out) pair.
protocol NodeFactory: Sendable {
    func makeGate(inbox: TaskInbox, channelCount: Int, capacity: Int) -> any AnyInputGate
    /// The chain tail's writer: returns the `ChannelWriter` and the same object as `Output<Out>`.
    func makeWriter(edges: [OutgoingEdge], subtaskIndex: Int, batchSize: Int, counter: RecordCounter) throws -> (any ChannelWriter, AnyObject)
    /// Creates the operator emitting into `downstream` (an `Output<Out>`).
    func instantiate(setup: OperatorSetup, downstream: AnyObject?, counter: RecordCounter) throws -> ChainLink
    /// The loop that feeds the chain head from its gate.
    /// `unaligned`: barriers may overtake records, when the input type can be channel state.
    /// `channelState`: the restored in-flight records, replayed first.
    func makeInputProcessor(
        gate: any AnyInputGate, head: ChainLink, alignsBarriers: Bool, unaligned: Bool, channelState: [UInt8], logger: Logger
    ) throws -> any InputProcessing
}

/// Internal wiring errors: a bug in the runtime, reported instead of crashing.
struct WiringError: Error, CustomStringConvertible {
    let description: String
}

/// The factory of a vertex with input `In` and output `Out`.
struct TypedNodeFactory<In: Sendable, Out: Sendable>: NodeFactory {
    let make: @Sendable (OperatorSetup, Output<Out>) throws -> StreamOperatorBase

    func makeGate(inbox: TaskInbox, channelCount: Int, capacity: Int) -> any AnyInputGate {
        InputGate<In>(inbox: inbox, channelCount: channelCount, capacity: capacity)
    }

    func makeWriter(edges: [OutgoingEdge], subtaskIndex: Int, batchSize: Int, counter: RecordCounter) throws -> (any ChannelWriter, AnyObject) {
        let writer: RecordWriter<Out> = try makeRecordWriter(edges: edges, subtaskIndex: subtaskIndex, batchSize: batchSize, counter: counter)
        return (writer, writer)
    }

    func instantiate(setup: OperatorSetup, downstream: AnyObject?, counter: RecordCounter) throws -> ChainLink {
        let output: Output<Out>
        if let downstream {
            guard let typed = downstream as? Output<Out> else { throw WiringError(description: "output type mismatch for \(Out.self)") }
            output = typed
        } else {
            output = DiscardingOutput<Out>()
        }
        let sideWatermarks = setup.sideOutputs.watermarkTargets
        let op = try make(setup, sideWatermarks.isEmpty ? output : SideWatermarkOutput(main: output, sides: sideWatermarks))
        if In.self == Never.self { return ChainLink(op: op, input: nil) }
        guard let input = op as? any ElementInput<In> else { throw WiringError(description: "operator \(type(of: op)) does not take \(In.self)") }
        return ChainLink(op: op, input: ChainingOutput<In>(target: input, counter: counter))
    }

    func makeInputProcessor(
        gate: any AnyInputGate, head: ChainLink, alignsBarriers: Bool, unaligned: Bool, channelState: [UInt8], logger: Logger
    ) throws -> any InputProcessing {
        guard let typedGate = gate as? InputGate<In>, let input = head.input as? Output<In> else {
            throw WiringError(description: "input type mismatch for \(In.self)")
        }
        let codable = ChannelStateCoding.canEncode(In.self)
        if unaligned && !codable {
            logger.notice("Checkpoints stay aligned at this task: its input type \(In.self) is not BinaryCodable, so records in flight cannot be stored as channel state.")
        }
        let replay = try ChannelStateCoding.decode(channelState, as: In.self)
        if !replay.isEmpty {
            logger.info("Replaying \(replay.count) in-flight records of the restored unaligned checkpoint before new input.")
        }
        return InputProcessor(gate: typedGate, head: input, alignsBarriers: alignsBarriers, unaligned: unaligned && codable, replay: replay)
    }
}

/// The writer of one typed output (main or side) over its outgoing edges.
func makeRecordWriter<Out: Sendable>(edges: [OutgoingEdge], subtaskIndex: Int, batchSize: Int, counter: RecordCounter) throws -> RecordWriter<Out> {
    var writers: [EdgeWriter<Out>] = []
    for edge in edges {
        let gates = try edge.gates.map { gate -> InputGate<Out> in
            guard let typed = gate as? InputGate<Out> else { throw WiringError(description: "gate type mismatch for \(Out.self)") }
            return typed
        }
        let partitioning: Partitioning<Out>
        switch edge.partitioner {
        case .forward: partitioning = .forward
        case .automatic, .rebalance: partitioning = .rebalance
        case .broadcast: partitioning = .broadcast
        case .hash(let any, let maxParallelism):
            guard let keyGroupOf = any as? @Sendable (Out) -> Int else {
                throw WiringError(description: "key selector type mismatch for \(Out.self)")
            }
            partitioning = .hash(keyGroupOf, maxParallelism: maxParallelism)
        }
        writers.append(EdgeWriter(
            gates: gates, channel: edge.channel, partitioning: partitioning, batchSize: batchSize, subtaskIndex: subtaskIndex))
    }
    return RecordWriter<Out>(edges: writers, counter: counter)
}
