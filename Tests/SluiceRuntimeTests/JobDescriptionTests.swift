import Foundation
import Testing
@testable import SluiceRuntime

/// What dashboards read from a job: its graph as the executor runs it, the checkpoints and
/// savepoints it completed, and the checkpoint a restart restored.
@Suite struct JobDescriptionTests {
    @Test func describesOperatorsChainsAndPartitioning() throws {
        let env = StreamExecutionEnvironment(testConfiguration(restart: .none, parallelism: 2))
        env.fromCollection(Array(0..<10), name: "numbers", parallelism: 2)
            .map(name: "double") { $0 * 2 }
            .keyBy { $0 % 3 }
            .map(name: "keyed") { $0 }
            .rebalance()
            .sinkTo(CollectingSink(into: CollectedValues<Int>()), name: "out", parallelism: 1)
        let graph = try env.describeJobGraph()
        #expect(graph.vertices.map(\.name) == ["numbers", "double", "keyed", "out"])
        #expect(graph.vertices.map(\.role) == ["source", "transform", "transform", "sink"])
        #expect(graph.vertices.map(\.parallelism) == [2, 2, 2, 1])
        // numbers -> double is forward with equal parallelism: one chain; the rest run in tasks of their own.
        let chains = graph.vertices.map(\.chain)
        #expect(chains[0] == chains[1] && chains[1] != chains[2] && chains[2] != chains[3])
        #expect(graph.edges.map { "\($0.source)->\($0.target) \($0.partitioning)" } == ["0->1 forward", "1->2 hash", "2->3 rebalance"])
    }

    @Test func keepsCompletedCheckpointsAndTheRestoredOne() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-history-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = testConfiguration(restart: .fixedDelay(attempts: 1, delay: .zero))
        configuration.checkpointing.directory = directory
        let failed = CollectedValues<Int>()
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(Array(0..<100), checkpointEvery: 25, onEmit: { index in
            if index == 60 && failed.count == 0 {
                failed.append(contentsOf: [index])
                throw InjectedFault(point: .afterSnapshot, checkpointId: 0)
            }
        }), name: "numbers")
            .sinkTo(CollectingSink(into: CollectedValues<Int>()), name: "out")
        try env.execute()
        let history = env.control.checkpointHistory.completed
        #expect(history.count >= 3)
        #expect(history.allSatisfy { !$0.isSavepoint && $0.path == nil && !$0.isIncremental && $0.totalBytes > 0 })
        #expect(history.map(\.id) == history.map(\.id).sorted())
        // The restart restored the last checkpoint completed before the fault.
        let restored = try #require(env.control.status.restoredFromCheckpoint)
        #expect(history.map(\.id).contains(restored))
    }

    @Test func boundsTheHistory() {
        let history = CheckpointHistory()
        for id in 1...Int64(CheckpointHistory.capacity + 5) {
            history.record(CompletedSnapshotSummary(id: id, isSavepoint: false, durationMillis: 1, totalBytes: 10, writtenBytes: 4,
                                                    completedAtMillis: 0, path: nil))
        }
        #expect(history.completed.count == CheckpointHistory.capacity)
        #expect(history.completed.first?.id == 6)
        #expect(history.completed.first?.isIncremental == true)
    }
}
