import Testing
@testable import SluiceRuntime

/// The checkpoint protocol's state machine alone: events in, effects out, on a manual clock.
/// No threads, no storage, no tasks: each step says exactly what the driver would be told to do.
@Suite struct CheckpointCoordinatorTests {
    static let source = TaskKey(chain: 0, subtask: 0)
    static let sink = TaskKey(chain: 1, subtask: 0)

    struct Machine {
        var coordinator: CheckpointCoordinator
        let clock = ManualClock()

        init(_ config: CheckpointConfig, firstCheckpointId: Int64 = 1) {
            coordinator = CheckpointCoordinator(
                config: config, tasks: [source, sink], sources: [source], vertices: [], firstCheckpointId: firstCheckpointId,
                now: 0, savepointFolder: { directory, id in "\(directory)/savepoint-\(id)" })
        }

        /// Moves the clock and ticks; then answers every metadata write with success (or `failWrite`).
        mutating func advance(_ millis: Int64, failWrite: Bool = false) -> [String] {
            clock.advance(byMillis: millis)
            return settle(coordinator.tick(now: clock.nowMillis()), failWrite: failWrite)
        }

        mutating func ackAll(_ id: Int64) -> [String] {
            coordinator.acknowledged(id, by: source, states: [:])
            coordinator.acknowledged(id, by: sink, states: [:])
            return advance(0)
        }

        mutating func settle(_ effects: [CheckpointCoordinator.Effect], failWrite: Bool = false) -> [String] {
            var log: [String] = []
            var queue = effects
            while !queue.isEmpty {
                let effect = queue.removeFirst()
                log.append(Self.describe(effect))
                if case .writeMetadata(let metadata, _, _) = effect {
                    queue += failWrite
                        ? coordinator.metadataFailed(metadata.checkpointId, reason: "disk full", now: clock.nowMillis())
                        : coordinator.metadataWritten(metadata.checkpointId, now: clock.nowMillis())
                }
                if queue.isEmpty { queue = coordinator.tick(now: clock.nowMillis()) }
            }
            return log
        }

        static func describe(_ effect: CheckpointCoordinator.Effect) -> String {
            switch effect {
            case .trigger(let barrier):
                let kind = barrier.savepoint.map { $0.stopsJob ? "stop-savepoint " : "savepoint " } ?? (barrier.isFinal ? "final " : "")
                return "trigger \(kind)\(barrier.checkpointId)"
            case .writeMetadata(let metadata, _, let pointer):
                return "write \(metadata.checkpointId)" + (pointer.map { " + pointer \($0)" } ?? "")
            case .completed(let done): return "completed \(done.metadata.checkpointId) in \(done.durationMillis) ms"
            case .notifyComplete(let id): return "notify complete \(id)"
            case .abort(let id, let reason, _): return "abort \(id): \(reason)"
            case .finishSavepoint(_, .success(let path)): return "savepoint done \(path)"
            case .finishSavepoint(_, .failure(let error)): return "savepoint failed \(error)"
            case .endJob(let stop): return "end job" + (stop.map { " stopped with \($0)" } ?? "")
            case .failJob(let error): return "fail job: \(error.consecutiveFailures) failed in a row, last \(error.checkpointId)"
            }
        }
    }

    @Test func periodicCheckpointCompletesWhenEveryTaskAcknowledged() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(100)))
        #expect(m.advance(99).isEmpty)
        #expect(m.advance(1) == ["trigger 1"])
        m.coordinator.acknowledged(1, by: Self.source, states: [:])
        #expect(m.advance(10).isEmpty)  // the sink has not acknowledged
        #expect(m.ackAll(1) == ["write 1", "completed 1 in 10 ms", "notify complete 1"])
        #expect(m.coordinator.lastCompletedId == 1)
        #expect(m.advance(90) == ["trigger 2"])  // one interval after the previous trigger
    }

    @Test func declineAndTimeoutAbortOnlyTheirCheckpoint() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), timeout: .milliseconds(50), tolerableFailures: 2))
        #expect(m.advance(10) == ["trigger 1"])
        #expect(m.settle(m.coordinator.declined(1, by: Self.sink, reason: "snapshot failed", now: 10))
            == ["abort 1: chain 1 subtask 0 declined: snapshot failed"])
        #expect(m.advance(10) == ["trigger 2"])
        #expect(m.advance(49).isEmpty)
        #expect(m.advance(1) == ["abort 2: timed out after 50 ms", "trigger 3"])
        #expect(m.coordinator.lastCompletedId == nil)
    }

    /// Issue 13.9: failed checkpoints in a row are counted (declines for a failure, timeouts, failed
    /// metadata writes); one more than tolerated fails the job; a completed checkpoint resets the count;
    /// a barrier that could not align for another reason (an input ended) does not count.
    @Test func checkpointFailuresInARowBeyondTheToleratedOnesFailTheJob() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), timeout: .milliseconds(50), tolerableFailures: 1))
        #expect(m.advance(10) == ["trigger 1"])
        #expect(m.settle(m.coordinator.declined(1, by: Self.sink, reason: "disk full", now: 10)) == ["abort 1: chain 1 subtask 0 declined: disk full"])
        #expect(m.advance(10) == ["trigger 2"])
        #expect(m.ackAll(2) == ["write 2", "completed 2 in 0 ms", "notify complete 2"])
        #expect(m.advance(10) == ["trigger 3"])
        #expect(m.settle(m.coordinator.declined(3, by: Self.sink, reason: "an input ended", isFailure: false, now: 30))
            == ["abort 3: chain 1 subtask 0 declined: an input ended"])
        #expect(m.advance(10) == ["trigger 4"])
        #expect(m.advance(50) == ["abort 4: timed out after 50 ms", "trigger 5"])
        m.coordinator.acknowledged(5, by: Self.source, states: [:])
        m.coordinator.acknowledged(5, by: Self.sink, states: [:])
        #expect(m.advance(0, failWrite: true) == ["write 5", "abort 5: writing its metadata failed: disk full", "fail job: 2 failed in a row, last 5"])
        #expect(m.coordinator.isDone)
        #expect(m.advance(100).isEmpty)
    }

    @Test func theFirstFailedCheckpointFailsTheJobByDefault() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10)))
        #expect(m.advance(10) == ["trigger 1"])
        #expect(m.settle(m.coordinator.declined(1, by: Self.sink, reason: "No space left on device", now: 10))
            == ["abort 1: chain 1 subtask 0 declined: No space left on device", "fail job: 1 failed in a row, last 1"])
        #expect(m.advance(100).isEmpty)
    }

    @Test func completionIsInIdOrderAndSubsumesOlderPendingCheckpoints() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), maxConcurrentCheckpoints: 2))
        #expect(m.advance(10) == ["trigger 1"])
        #expect(m.advance(10) == ["trigger 2"])
        #expect(m.advance(10).isEmpty)  // two in flight: the third waits
        #expect(m.coordinator.pending.map(\.id) == [1, 2])
        #expect(m.ackAll(2) == [
            "abort 1: subsumed by checkpoint 2, which completed first", "write 2", "completed 2 in 10 ms", "notify complete 2",
            "trigger 3",
        ])
    }

    @Test func minimumPauseRunsFromTheEndOfThePreviousCheckpointAndMeansOneAtATime() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), minPauseBetweenCheckpoints: .milliseconds(30), maxConcurrentCheckpoints: 3))
        #expect(m.advance(10) == ["trigger 1"])
        #expect(m.advance(20).isEmpty)  // one at a time despite maxConcurrentCheckpoints
        #expect(m.ackAll(1).contains("notify complete 1"))  // ended at t=30
        #expect(m.advance(29).isEmpty)
        #expect(m.advance(1) == ["trigger 2"])
        // A requested checkpoint does not wait for the pause.
        #expect(m.ackAll(2).contains("notify complete 2"))
        m.coordinator.checkpointRequested()
        #expect(m.advance(0) == ["trigger 3"])
    }

    @Test func savepointWaitsUntilNothingIsInFlightAndBlocksOthersWhilePending() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), maxConcurrentCheckpoints: 2))
        #expect(m.advance(10) == ["trigger 1"])
        let request = SavepointRequest(directory: "/sp", stopsJob: false)
        #expect(m.coordinator.savepointRequested(request).isEmpty)
        #expect(m.advance(10).isEmpty)  // a checkpoint is due, but the savepoint goes first once 1 ends
        #expect(m.ackAll(1) == ["write 1", "completed 1 in 10 ms", "notify complete 1", "trigger savepoint 2"])
        #expect(m.advance(50).isEmpty)  // nothing starts while the savepoint is pending
        // An intermediate savepoint commits nothing and is no restore point of the job.
        #expect(m.ackAll(2) == ["write 2", "completed 2 in 50 ms", "savepoint done /sp/savepoint-2", "trigger 3"])
        #expect(m.coordinator.lastCompletedId == 1)
    }

    @Test func stopWithSavepointWritesThePointerBeforeAnyCommitAndEndsTheJob() {
        var m = Machine(CheckpointConfig())
        _ = m.coordinator.savepointRequested(SavepointRequest(directory: "/sp", stopsJob: true))
        #expect(m.advance(5) == ["trigger stop-savepoint 1"])
        #expect(m.ackAll(1) == [
            "write 1 + pointer /sp/savepoint-1", "completed 1 in 0 ms", "notify complete 1", "savepoint done /sp/savepoint-1",
            "end job stopped with /sp/savepoint-1",
        ])
        #expect(m.coordinator.isDone)
        #expect(m.advance(1000).isEmpty)
        #expect(m.settle(m.coordinator.savepointRequested(SavepointRequest(directory: "/sp", stopsJob: false)))
            == ["savepoint failed The job ended before the savepoint completed; no savepoint was written."])
    }

    @Test func finalCheckpointWaitsForCheckpointsInFlightOnceEverySourceEnded() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10)))
        #expect(m.advance(10) == ["trigger 1"])
        m.coordinator.sourceFinished(Self.source)
        #expect(m.advance(100).isEmpty)
        #expect(m.ackAll(1) == ["write 1", "completed 1 in 100 ms", "notify complete 1", "trigger final 2"])
        #expect(m.ackAll(2) == ["write 2", "completed 2 in 0 ms", "notify complete 2", "end job"])
    }

    @Test func failedMetadataWriteAbortsAndTheNextCheckpointStillRuns() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10), tolerableFailures: 1))
        #expect(m.advance(10) == ["trigger 1"])
        m.coordinator.acknowledged(1, by: Self.source, states: [:])
        m.coordinator.acknowledged(1, by: Self.sink, states: [:])
        #expect(m.advance(0, failWrite: true) == ["write 1", "abort 1: writing its metadata failed: disk full"])
        #expect(m.advance(10) == ["trigger 2"])
    }

    @Test func stoppingFailsSavepointsNotTaken() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(10)))
        #expect(m.advance(10) == ["trigger 1"])
        _ = m.coordinator.savepointRequested(SavepointRequest(directory: "/sp", stopsJob: false))
        #expect(m.coordinator.stopped().map(Machine.describe)
            == ["savepoint failed The job ended before the savepoint completed; no savepoint was written."])
    }

    @Test func nextDeadlineIsTheEarlierOfTheNextTriggerAndTheOldestTimeout() {
        var m = Machine(CheckpointConfig(interval: .milliseconds(100), timeout: .milliseconds(30), maxConcurrentCheckpoints: 2))
        #expect(m.coordinator.nextDeadline() == 100)
        #expect(m.advance(100) == ["trigger 1"])
        #expect(m.coordinator.nextDeadline() == 130)
    }
}
