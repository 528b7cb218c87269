/// A task as the checkpoint coordinator's driver sees it.
struct CoordinatedTask: Sendable {
    let key: TaskKey
    let inbox: TaskInbox
    let isSource: Bool
    /// Holds a two-phase-commit sink: its commit is awaited before the job may end.
    let commitsOnComplete: Bool
}

/// Groups vertices into chains: a vertex joins its single producer's chain over a forward edge
/// of equal parallelism when that producer has no other consumer of its main output. Side-output
/// edges always cross tasks (through channels), whatever their partitioning.
enum ExecutionPlanner {
    static func chains(_ vertices: [JobVertex], chaining: Bool) -> [[JobVertex]] {
        var consumers: [Int: Int] = [:]
        for vertex in vertices {
            for edge in vertex.inputs where edge.sideOutput == nil { consumers[edge.source, default: 0] += 1 }
        }
        var chainOf: [Int: Int] = [:]
        var chains: [[JobVertex]] = []
        let byId = Dictionary(uniqueKeysWithValues: vertices.map { ($0.id, $0) })
        for vertex in vertices {  // declaration order is topological
            if chaining, vertex.role != .source, vertex.chainable, vertex.inputs.count == 1,
               let edge = vertex.inputs.first, edge.partitioner.isForward, edge.sideOutput == nil,
               let producer = byId[edge.source], producer.parallelism == vertex.parallelism,
               consumers[producer.id] == 1, let chain = chainOf[producer.id], chains[chain].last?.id == producer.id {
                chains[chain].append(vertex)
                chainOf[vertex.id] = chain
            } else {
                chainOf[vertex.id] = chains.count
                chains.append([vertex])
            }
        }
        return chains
    }

    /// One `TaskSpec` per parallel subtask of every chain, wired to its consumers' input gates, and
    /// how the checkpoint coordinator sees each.
    static func tasks(
        chains: [[JobVertex]], vertices: [JobVertex], channelCapacity: Int, restore restoreSource: RestoreSource?,
        settings: TaskSettings, coordinator: CheckpointCoordinatorDriver, firstCheckpointId: Int64
    ) -> (specs: [TaskSpec], coordinated: [CoordinatedTask]) {
        // Inboxes and gates first: producers need their consumers' gates.
        let byVertex = Dictionary(uniqueKeysWithValues: vertices.map { ($0.id, $0) })
        var inboxes: [Int: [TaskInbox]] = [:]
        var gates: [Int: [any AnyInputGate]] = [:]
        var channelOffsets: [Int: [Int]] = [:]  // chain index -> offset per head input edge
        for (c, chain) in chains.enumerated() {
            guard let head = chain.first else { continue }
            inboxes[c] = (0..<head.parallelism).map { _ in TaskInbox() }
            guard head.role != .source else { continue }
            var offsets: [Int] = []
            var total = 0
            for edge in head.inputs {
                offsets.append(total)
                total += edge.partitioner.isForward ? 1 : (byVertex[edge.source]?.parallelism ?? 1)
            }
            channelOffsets[c] = offsets
            gates[c] = (inboxes[c] ?? []).map { head.factory.makeGate(inbox: $0, channelCount: total, capacity: channelCapacity) }
            if let policy = settings.unaligned { for gate in gates[c] ?? [] { gate.enableUnalignedCheckpoints(policy) } }
        }
        let chainOfHead = Dictionary(uniqueKeysWithValues: chains.enumerated().compactMap { c, chain in chain.first.map { ($0.id, c) } })

        var specs: [TaskSpec] = []
        var coordinated: [CoordinatedTask] = []
        for (c, chain) in chains.enumerated() {
            guard let head = chain.first, let tail = chain.last else { continue }
            for subtask in 0..<head.parallelism {
                var outgoing: [OutgoingEdge] = []
                for consumer in vertices {
                    for (edgeIndex, edge) in consumer.inputs.enumerated() where edge.source == tail.id && edge.sideOutput == nil {
                        guard let consumerChain = chainOfHead[consumer.id], let consumerGates = gates[consumerChain],
                              let offset = channelOffsets[consumerChain]?[edgeIndex] else { continue }
                        if edge.partitioner.isForward {
                            outgoing.append(OutgoingEdge(gates: [consumerGates[subtask]], channel: offset, partitioner: .forward))
                        } else {
                            outgoing.append(OutgoingEdge(gates: consumerGates, channel: offset + subtask, partitioner: edge.partitioner))
                        }
                    }
                }
                // Side-output edges of any vertex of the chain (never chained themselves).
                var sideOutgoing: [Int: [String: [OutgoingEdge]]] = [:]
                let inChain = Set(chain.map(\.id))
                for consumer in vertices {
                    for (edgeIndex, edge) in consumer.inputs.enumerated() where inChain.contains(edge.source) {
                        guard let tag = edge.sideOutput, let consumerChain = chainOfHead[consumer.id],
                              let consumerGates = gates[consumerChain], let offset = channelOffsets[consumerChain]?[edgeIndex] else { continue }
                        let out = edge.partitioner.isForward
                            ? OutgoingEdge(gates: [consumerGates[subtask]], channel: offset, partitioner: .forward)
                            : OutgoingEdge(gates: consumerGates, channel: offset + subtask, partitioner: edge.partitioner)
                        sideOutgoing[edge.source, default: [:]][tag, default: []].append(out)
                    }
                }
                let inbox = inboxes[c]?[subtask] ?? TaskInbox()
                let key = TaskKey(chain: c, subtask: subtask)
                let name = "\(chain.map(\.name).joined(separator: " -> ")) (\(subtask + 1)/\(head.parallelism))"
                specs.append(TaskSpec(
                    key: key, name: name, vertices: chain, subtaskIndex: subtask, inbox: inbox, gate: gates[c]?[subtask],
                    outgoing: outgoing, sideOutgoing: sideOutgoing, restore: restoreSource, settings: settings, coordinator: coordinator,
                    firstCheckpointId: firstCheckpointId))
                coordinated.append(CoordinatedTask(
                    key: key, inbox: inbox, isSource: head.role == .source,
                    commitsOnComplete: chain.contains { $0.role == .sink && $0.commitsOnComplete }))
            }
        }
        return (specs, coordinated)
    }
}
