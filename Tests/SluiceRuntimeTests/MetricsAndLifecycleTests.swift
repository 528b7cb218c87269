import Foundation
import Testing
@testable import SluiceRuntime

@Suite struct MetricsAndLifecycleTests {
    @Test func countsRecordsCheckpointsAndRestarts() throws {
        let metrics = TestMetrics()
        var configuration = testConfiguration(restart: .fixedDelay(attempts: 3, delay: .zero))
        configuration.metricsFactory = metrics
        let failures = CollectedValues<Int>()
        let env = StreamExecutionEnvironment(configuration)
        let out = CollectedValues<Int>()
        env.fromSource(CollectionSource(Array(0..<100), checkpointEvery: 25, onEmit: { index in
            // Fail once, at element 60, before it is emitted.
            if index == 60 && failures.count == 0 {
                failures.append(contentsOf: [index])
                throw InjectedFault(point: .afterSnapshot, checkpointId: 0)
            }
        }), name: "numbers")
            .map(name: "double") { $0 * 2 }
            .filter(name: "even") { $0 % 4 == 0 }
            .sinkTo(CollectingSink(into: out), name: "out")
        let result = try env.execute()
        #expect(result.restarts == 1)
        #expect(metrics.total("sluice_restarts_total") == 1)
        #expect(metrics.total("sluice_checkpoints_completed_total") >= 3)
        // The sink is at-least-once: the 10 records after checkpoint 2 (50..59) are replayed.
        #expect(out.values.count == 50 + 5)
        // Over both attempts (60 elements before the crash, 50 after restoring at 50):
        // in = double 110 + even 110 + out 55; out = numbers 110 + double 110 + even 55.
        #expect(metrics.total("sluice_records_in_total") == 110 + 110 + 55)
        #expect(metrics.total("sluice_records_out_total") == 110 + 110 + 55)
        // The status a status endpoint shows: ended, one restart, the last checkpoint and its figures.
        let status = env.control.status
        #expect(status.phase == .finished)
        #expect(status.restarts == 1)
        #expect(status.lastCompletedCheckpoint == result.lastCompletedCheckpoint)
        #expect(status.lastCheckpointDurationMillis != nil && status.lastCheckpointBytes != nil)
        #expect(status.lastFailure?.contains("Injected fault") == true)
    }

    @Test func statusSaysFailedWhenRestartsRunOut() throws {
        let env = StreamExecutionEnvironment(testConfiguration(restart: .none))
        env.fromSource(CollectionSource(Array(0..<10), onEmit: { index in
            if index == 3 { throw InjectedFault(point: .afterSnapshot, checkpointId: 0) }
        }), name: "numbers")
            .sinkTo(CollectingSink(into: CollectedValues<Int>()), name: "out")
        #expect(env.control.status.phase == .created)
        #expect(throws: JobFailedError.self) { try env.execute() }
        #expect(env.control.status.phase == .failed)
    }

    @Test func asyncExecutionCancelsWithTheTask() async throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let out = CollectedValues<Int>()
        env.fromSource(CollectionSource(Array(0..<10), endless: true), name: "endless")
            .sinkTo(CollectingSink(into: out))
        let job = Task { try await env.executeOnDedicatedThread() }
        while out.count < 10 { try await Task.sleep(nanoseconds: 1_000_000) }
        job.cancel()
        let result = try await job.value
        #expect(result.status == .cancelled)
    }
}
