import Foundation

/// The one place the runtime creates threads. Blocking loops (a task subtask, the checkpoint
/// coordinator) and blocking waits bridged to `async` run on named dedicated threads, never on
/// Swift's cooperative pool, which blocking would starve. Owners and shutdown:
/// - task and coordinator threads: the attempt's `AttemptMonitor` launches them and its
///   `waitForEnd` returns only after all ended (cancelling the inboxes and stopping the
///   coordinator first on failure or cancel);
/// - a bridged call (`JobControl`'s async savepoints, `executeOnDedicatedThread`): the thread ends
///   when the call returns, and the awaiting task owns it until then.
enum DedicatedThread {
    static func start(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Runs a blocking `body` on its own thread and awaits its result.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            start(name: name) {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
