import Foundation
import Synchronization

/// Cancels a running job from any thread (e.g. a ServiceLifecycle graceful shutdown), and
/// triggers checkpoints on demand.
public final class JobControl: Sendable {
    private struct State {
        var cancelled = false
        var attempt: AttemptMonitor?
        var coordinator: CheckpointCoordinatorDriver?
    }
    private let state = Mutex(State())
    private let cancelWake = NSCondition()

    private let currentStatus = Mutex(JobStatus())
    /// Completed checkpoints and savepoints of this process, oldest first.
    public let checkpointHistory = CheckpointHistory()

    public init() {}

    /// The job's phase, restarts and last completed checkpoint, from any thread.
    public var status: JobStatus { currentStatus.withLock { $0 } }

    func updateStatus(_ change: (inout JobStatus) -> Void) {
        currentStatus.withLock { change(&$0) }
    }

    /// Stops every task and makes `execute()` return `.cancelled`. Open transactions are aborted.
    public func cancel() {
        let attempt = state.withLock { s -> AttemptMonitor? in
            s.cancelled = true
            return s.attempt
        }
        attempt?.cancel()
        cancelWake.lock()
        cancelWake.broadcast()
        cancelWake.unlock()
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Triggers a checkpoint as soon as none is in flight.
    public func triggerCheckpoint() {
        state.withLock { $0.coordinator }?.requestCheckpoint()
    }

    /// Takes a savepoint into a new folder `<directory>/savepoint-<id>-<time>/` and returns its
    /// path once its `_metadata` is written. The job keeps running. A savepoint is self-contained
    /// and never deleted by checkpoint retention; restore from it with
    /// `RuntimeConfiguration.restoreFrom` or `execute(restoreFrom:)`.
    /// Blocks the calling thread: call it from a thread of your own (or use the async overload).
    public func triggerSavepoint(directory: String) throws -> String {
        try savepoint(directory: directory, stopsJob: false)
    }

    /// Stops the job with a savepoint (Flink's stop-with-savepoint without --drain): sources stop
    /// without emitting the final watermark (open event-time windows are not fired), the savepoint
    /// is taken through the barriers, two-phase-commit sinks commit, and `execute()` returns
    /// `.stoppedWithSavepoint(path)`. Returns the savepoint's path. If the savepoint fails, the
    /// job keeps running and this throws. Blocks the calling thread (see `triggerSavepoint`).
    public func stopWithSavepoint(directory: String) throws -> String {
        try savepoint(directory: directory, stopsJob: true)
    }

    /// `triggerSavepoint(directory:)` waiting on a dedicated thread, not on the cooperative pool.
    public func triggerSavepoint(directory: String) async throws -> String {
        try await DedicatedThread.run(name: "sluice savepoint") { try self.savepoint(directory: directory, stopsJob: false) }
    }

    /// `stopWithSavepoint(directory:)` waiting on a dedicated thread, not on the cooperative pool.
    public func stopWithSavepoint(directory: String) async throws -> String {
        try await DedicatedThread.run(name: "sluice savepoint") { try self.savepoint(directory: directory, stopsJob: true) }
    }

    private func savepoint(directory: String, stopsJob: Bool) throws -> String {
        guard let coordinator = state.withLock({ $0.coordinator }) else { throw SavepointError.jobNotRunning }
        let request = SavepointRequest(directory: directory, stopsJob: stopsJob)
        coordinator.requestSavepoint(request)
        return try request.wait()
    }

    /// Returns false when cancelled first.
    func attach(_ attempt: AttemptMonitor, coordinator: CheckpointCoordinatorDriver) -> Bool {
        state.withLock { s in
            guard !s.cancelled else { return false }
            s.attempt = attempt
            s.coordinator = coordinator
            return true
        }
    }

    func detach() {
        state.withLock { s in
            s.attempt = nil
            s.coordinator = nil
        }
    }

    /// Sleeps `millis` on `clock`, waking early on cancel. A manual clock is polled: the test
    /// moves it past the deadline.
    func sleep(millis: Int64, clock: any RuntimeClock) {
        guard !clock.isRealTime else { return sleep(millis: millis) }
        let until = clock.nowMillis() + millis
        while !isCancelled && clock.nowMillis() < until { sleep(millis: 1) }
    }

    /// Sleeps up to `millis`, waking early on cancel.
    func sleep(millis: Int64) {
        let deadline = Date(timeIntervalSinceNow: Double(millis) / 1000)
        cancelWake.lock()
        while !isCancelled && Date() < deadline { _ = cancelWake.wait(until: deadline) }
        cancelWake.unlock()
    }
}
