import Foundation

/// Owns the threads of one attempt (one per task subtask, one for the checkpoint coordinator) and
/// watches them: all finished, or the first failure. `waitForEnd` returns only after every thread
/// it launched has ended, so no thread of an attempt outlives it.
final class AttemptMonitor: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var running = 0
    private var failure: (any Error)?
    private var cancelled = false
    private var inboxes: [TaskInbox] = []
    private var coordinator: CheckpointCoordinatorDriver?

    func setUp(inboxes: [TaskInbox], coordinator: CheckpointCoordinatorDriver) {
        condition.locked {
            self.inboxes = inboxes
            self.coordinator = coordinator
        }
    }

    /// Runs `body` on a new named thread of this attempt; its error (if any) fails the attempt.
    func launch(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () throws -> Void) {
        condition.locked { running += 1 }
        DedicatedThread.start(name: name, stackSize: stackSize) { [self] in
            do {
                try body()
                threadFinished(nil)
            } catch {
                threadFinished(error)
            }
        }
    }

    private func threadFinished(_ error: (any Error)?) {
        condition.lock()
        running -= 1
        if let error, !(error is TaskCancelled), failure == nil, !cancelled { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil && !cancelled { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    enum Outcome {
        case finished
        case cancelled
        case failed(any Error)
    }

    /// Waits for the end; on failure or cancel, cancels every task and waits for all threads.
    func waitForEnd() -> Outcome {
        condition.lock()
        while running > 0 && failure == nil && !cancelled { condition.wait() }
        let outcome: Outcome = failure.map { .failed($0) } ?? (cancelled ? .cancelled : .finished)
        let inboxes = self.inboxes
        let coordinator = self.coordinator
        condition.unlock()
        if case .finished = outcome {} else {
            coordinator?.stop()
            for inbox in inboxes { inbox.cancel() }
        }
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
        return outcome
    }
}
