/// The frozen job graph as operators and dashboards see it: vertices with their parallelism and
/// the task (chain) they run in, and edges with their partitioning. Plain data, Codable.
public struct JobGraphDescription: Codable, Sendable, Equatable {
    public struct Vertex: Codable, Sendable, Equatable {
        public var id: Int
        /// The operator id (unique within the job; its state is stored under it).
        public var name: String
        /// `source`, `transform` or `sink`.
        public var role: String
        public var parallelism: Int
        /// Vertices with the same chain index run in one task (one thread per subtask).
        public var chain: Int

        public init(id: Int, name: String, role: String, parallelism: Int, chain: Int) {
            self.id = id
            self.name = name
            self.role = role
            self.parallelism = parallelism
            self.chain = chain
        }
    }

    public struct Edge: Codable, Sendable, Equatable {
        public var source: Int
        public var target: Int
        /// `forward`, `rebalance`, `broadcast` or `hash`.
        public var partitioning: String
        /// The side output (tag id) of `source` the edge reads; nil for its main output.
        public var sideOutput: String?

        public init(source: Int, target: Int, partitioning: String, sideOutput: String? = nil) {
            self.source = source
            self.target = target
            self.partitioning = partitioning
            self.sideOutput = sideOutput
        }
    }

    public var vertices: [Vertex]
    public var edges: [Edge]

    public init(vertices: [Vertex], edges: [Edge]) {
        self.vertices = vertices
        self.edges = edges
    }
}

extension StreamExecutionEnvironment {
    /// The job graph `execute()` runs: parallelism resolved, automatic edges turned into forward
    /// or rebalance, and vertices grouped into chains as the executor groups them.
    public func describeJobGraph() throws -> JobGraphDescription {
        let vertices = try jobGraph()
        let chains = ExecutionPlanner.chains(vertices, chaining: configuration.chaining)
        var chainOf: [Int: Int] = [:]
        for (index, chain) in chains.enumerated() {
            for vertex in chain { chainOf[vertex.id] = index }
        }
        return JobGraphDescription(
            vertices: vertices.map {
                .init(id: $0.id, name: $0.name, role: "\($0.role)", parallelism: $0.parallelism, chain: chainOf[$0.id] ?? $0.id)
            },
            edges: vertices.flatMap { vertex in
                vertex.inputs.map {
                    .init(source: $0.source, target: vertex.id, partitioning: $0.partitioner.name, sideOutput: $0.sideOutput)
                }
            })
    }
}

extension EdgePartitioner {
    var name: String {
        switch self {
        case .automatic: return "automatic"
        case .forward: return "forward"
        case .rebalance: return "rebalance"
        case .broadcast: return "broadcast"
        case .hash: return "hash"
        }
    }
}
