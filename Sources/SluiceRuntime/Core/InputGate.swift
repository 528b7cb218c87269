import DequeModule
import Foundation

/// What a task's input gate hands to its thread.
enum GateEvent<T: Sendable> {
    case batch(channel: Int, [StreamElement<T>])
    case mail
    case timeout
    case cancelled
}

/// Type-erased view of a gate, for the parts of the runtime that do not know the element type.
protocol AnyInputGate: AnyObject, Sendable {
    var channelCount: Int { get }
}

/// The bounded input channels of one task subtask. Producers block when a channel holds
/// `capacity` batches (backpressure); the consumer takes whole batches. Shares the lock of the
/// task's `TaskInbox` so one wait covers both mail and records.
final class InputGate<T: Sendable>: AnyInputGate, @unchecked Sendable {
    // @unchecked: `queues`, `blocked` and `nextChannel` are only touched while holding `inbox.condition`.
    let inbox: TaskInbox
    let channelCount: Int
    let capacity: Int
    private var queues: [Deque<[StreamElement<T>]>]
    private var blocked: [Bool]
    private var nextChannel = 0

    init(inbox: TaskInbox, channelCount: Int, capacity: Int) {
        self.inbox = inbox
        self.channelCount = channelCount
        self.capacity = max(1, capacity)
        queues = Array(repeating: Deque(), count: channelCount)
        blocked = Array(repeating: false, count: channelCount)
    }

    /// Appends a batch to `channel`, blocking while the channel is full. Returns the nanoseconds
    /// spent blocked (0 when it did not block). Throws when the consumer was cancelled.
    @discardableResult
    func push(_ batch: [StreamElement<T>], channel: Int) throws -> UInt64 {
        let condition = inbox.condition
        condition.lock()
        defer { condition.unlock() }
        var waitedSince: UInt64 = 0
        while queues[channel].count >= capacity && !inbox.cancelled {
            if waitedSince == 0 { waitedSince = DispatchTime.now().uptimeNanoseconds }
            inbox.producersWaiting += 1
            condition.wait()
            inbox.producersWaiting -= 1
        }
        if inbox.cancelled { throw TaskCancelled() }
        queues[channel].append(batch)
        if inbox.consumerWaiting { condition.broadcast() }
        return waitedSince == 0 ? 0 : DispatchTime.now().uptimeNanoseconds - waitedSince
    }

    /// Takes the next batch from an unblocked channel (round-robin), or reports mail, timeout or
    /// cancellation. Waits at most until `deadline` (nil: without limit).
    func next(until deadline: Date?) -> GateEvent<T> {
        let condition = inbox.condition
        condition.lock()
        defer { condition.unlock() }
        var waited = false
        while true {
            if inbox.cancelled { return .cancelled }
            if inbox.hasMailLocked { return .mail }
            for offset in 0..<channelCount {
                let channel = (nextChannel + offset) % channelCount
                if !blocked[channel], let batch = queues[channel].popFirst() {
                    nextChannel = (channel + 1) % channelCount
                    if inbox.producersWaiting > 0 { condition.broadcast() }
                    return .batch(channel: channel, batch)
                }
            }
            if waited, let deadline, deadline <= Date() { return .timeout }
            inbox.waitLocked(until: deadline)
            waited = true
        }
    }

    /// Puts back the unprocessed rest of a batch (after a barrier blocked its channel).
    func unread(_ elements: [StreamElement<T>], channel: Int) {
        guard !elements.isEmpty else { return }
        inbox.condition.lock()
        queues[channel].prepend(elements)
        inbox.condition.unlock()
    }

    /// Barrier alignment: a blocked channel is not read until unblocked.
    func setBlocked(_ channel: Int, _ value: Bool) {
        inbox.condition.lock()
        blocked[channel] = value
        inbox.condition.unlock()
    }

    func unblockAll() {
        inbox.condition.lock()
        for i in 0..<channelCount { blocked[i] = false }
        inbox.condition.unlock()
    }

    /// For tests and metrics: batches queued on `channel`.
    func queuedBatches(channel: Int) -> Int {
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        return queues[channel].count
    }

    /// For tests: producers currently blocked on a full channel.
    var blockedProducers: Int {
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        return inbox.producersWaiting
    }
}
