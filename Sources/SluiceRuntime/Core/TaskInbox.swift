import DequeModule
import Foundation
import Synchronization

/// Control messages a task processes on its own thread, between records (Flink's mailbox).
enum TaskMail: Sendable {
    case triggerCheckpoint(CheckpointBarrier)
    case notifyCheckpointComplete(Int64)
    case notifyCheckpointAborted(Int64)
    /// Sources: the final checkpoint is complete; emit end-of-partition and exit.
    case terminate
}

/// Lets a sender wait until a mail was processed (or dropped because the task went away).
final class MailCompletion: @unchecked Sendable {
    // @unchecked: `done` and `processed` are only touched while holding `condition`.
    private let condition = NSCondition()
    private var done = false
    private var processed = false

    func complete(processed: Bool) {
        condition.lock()
        done = true
        self.processed = processed
        condition.broadcast()
        condition.unlock()
    }

    /// Returns true when the task processed the mail, false when it was dropped.
    func wait() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !done { condition.wait() }
        return processed
    }
}

/// Thrown inside a task when the job cancels it.
struct TaskCancelled: Error, CustomStringConvertible {
    var description: String { "The task was cancelled." }
}

/// The single lock and condition a task thread waits on: its mailbox plus (through `InputGate`)
/// its input channels, so mail wakes a task that waits for records and vice versa.
final class TaskInbox: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`; `pendingMail` is an atomic hint.
    let condition = NSCondition()
    private var mails: Deque<(TaskMail, MailCompletion?)> = []
    private(set) var cancelled = false
    /// True while the task thread sleeps on `condition`.
    var consumerWaiting = false
    /// Producers blocked on a full channel of this task.
    var producersWaiting = 0
    /// A lock-free hint so the hot loop checks the mailbox without locking.
    let pendingMail = Atomic<Bool>(false)
    /// Set when the inbox is cancelled, readable without the lock.
    let isCancelled = Atomic<Bool>(false)

    func post(_ mail: TaskMail, completion: MailCompletion? = nil) {
        condition.lock()
        if cancelled {
            condition.unlock()
            completion?.complete(processed: false)
            return
        }
        mails.append((mail, completion))
        pendingMail.store(true, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    /// Takes all queued mail. Call with the lock NOT held.
    func drainMail() -> [(TaskMail, MailCompletion?)] {
        condition.lock()
        defer { condition.unlock() }
        pendingMail.store(false, ordering: .relaxed)
        guard !mails.isEmpty else { return [] }
        let all = Array(mails)
        mails.removeAll()
        return all
    }

    /// Waits (lock held by caller) until woken or the deadline passes.
    func waitLocked(until deadline: Date?) {
        consumerWaiting = true
        if let deadline {
            _ = condition.wait(until: deadline)
        } else {
            condition.wait()
        }
        consumerWaiting = false
    }

    var hasMailLocked: Bool { !mails.isEmpty }

    /// Waits for mail or cancellation, at most until `deadline`.
    func waitForMail(until deadline: Date?) {
        condition.lock()
        if mails.isEmpty && !cancelled { waitLocked(until: deadline) }
        condition.unlock()
    }

    /// Cancels the task: wakes it and every producer blocked on its channels; drops queued mail.
    func cancel() {
        condition.lock()
        cancelled = true
        isCancelled.store(true, ordering: .releasing)
        let dropped = Array(mails)
        mails.removeAll()
        pendingMail.store(true, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
        for (_, completion) in dropped { completion?.complete(processed: false) }
    }
}
