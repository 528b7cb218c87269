import DequeModule
import Foundation
import Synchronization

/// What a task's input gate hands to its thread.
enum GateEvent<T: Sendable> {
    case batch(channel: Int, [StreamElement<T>])
    /// Unaligned checkpoints: the barrier pushed on `channel` may overtake the records queued
    /// before it (at once, or its aligned-checkpoint timeout passed). Comes before any batch.
    case overtakingBarrier(CheckpointBarrier, channel: Int)
    case mail
    case timeout
    case cancelled
}

/// Type-erased view of a gate, for the parts of the runtime that do not know the element type.
protocol AnyInputGate: AnyObject, Sendable {
    var channelCount: Int { get }
    /// Lets barriers overtake queued records (unaligned checkpoints). Call before the tasks start.
    func enableUnalignedCheckpoints(_ policy: UnalignedCheckpointPolicy)
    /// A barrier that may overtake was pushed and not yet taken (the consumer should stop its batch).
    var hasOvertakingBarrier: Bool { get }
}

/// When a barrier may overtake the records queued before it (Flink's unaligned checkpoints with
/// an aligned-checkpoint timeout): once `alignedTimeoutMillis` passed since the checkpoint was
/// triggered (0: at once). Savepoints and the final checkpoint are always aligned.
struct UnalignedCheckpointPolicy: Sendable {
    let alignedTimeoutMillis: Int64
    let clock: any RuntimeClock

    func mayOvertake(_ barrier: CheckpointBarrier) -> Bool {
        guard barrier.savepoint == nil, !barrier.isFinal else { return false }
        return clock.nowMillis() - barrier.timestamp >= alignedTimeoutMillis
    }

    /// When `barrier` may overtake (nil: never; a date in the past: now).
    func overtakingDeadline(_ barrier: CheckpointBarrier) -> Date? {
        guard barrier.savepoint == nil, !barrier.isFinal else { return nil }
        let remaining = barrier.timestamp + alignedTimeoutMillis - clock.nowMillis()
        guard clock.isRealTime else { return Date(timeIntervalSinceNow: remaining <= 0 ? 0 : 0.005) }
        return Date(timeIntervalSinceNow: Double(max(0, remaining)) / 1000)
    }
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
    private var unaligned: UnalignedCheckpointPolicy?
    /// Barriers pushed and not yet reported as overtaking, with their channel (unaligned checkpoints).
    private var pendingBarriers: [(barrier: CheckpointBarrier, channel: Int)] = []
    /// The consumer is done with checkpoints up to this id: their barriers no longer overtake.
    private var handledCheckpoint: Int64 = 0
    /// Set when a barrier that may overtake was pushed: the consumer stops within its batch.
    let overtakingBarrierPending = Atomic<Bool>(false)

    init(inbox: TaskInbox, channelCount: Int, capacity: Int) {
        self.inbox = inbox
        self.channelCount = channelCount
        self.capacity = max(1, capacity)
        queues = Array(repeating: Deque(), count: channelCount)
        blocked = Array(repeating: false, count: channelCount)
    }

    var hasOvertakingBarrier: Bool { overtakingBarrierPending.load(ordering: .acquiring) }

    func enableUnalignedCheckpoints(_ policy: UnalignedCheckpointPolicy) {
        inbox.condition.lock()
        unaligned = policy
        inbox.condition.unlock()
    }

    /// Appends a batch to `channel`, blocking while the channel is full. Returns the nanoseconds
    /// spent blocked (0 when it did not block). Throws when the consumer was cancelled.
    /// `overflowWhen` (unaligned checkpoints): checked while blocked; when it turns true the batch
    /// is appended beyond the capacity, so a producer with a checkpoint to take is not held behind
    /// the backpressure its checkpoint is meant to overtake. `overflow`: never block (barriers).
    @discardableResult
    func push(_ batch: [StreamElement<T>], channel: Int, overflow: Bool = false, overflowWhen: (() -> Bool)? = nil) throws -> UInt64 {
        let condition = inbox.condition
        condition.lock()
        defer { condition.unlock() }
        var waitedSince: UInt64 = 0
        while !overflow && queues[channel].count >= capacity && !inbox.cancelled {
            if let overflowWhen, overflowWhen() { break }
            if waitedSince == 0 { waitedSince = DispatchTime.now().uptimeNanoseconds }
            inbox.producersWaiting += 1
            if overflowWhen != nil {
                // The producer's own mail does not signal this condition: look again soon.
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.005))
            } else {
                condition.wait()
            }
            inbox.producersWaiting -= 1
        }
        if inbox.cancelled { throw TaskCancelled() }
        queues[channel].append(batch)
        if let unaligned, case .barrier(let barrier)? = batch.last, barrier.checkpointId > handledCheckpoint,
           unaligned.overtakingDeadline(barrier) != nil {
            pendingBarriers.append((barrier, channel))
            if unaligned.mayOvertake(barrier) {
                overtakingBarrierPending.store(true, ordering: .releasing)
                condition.broadcast()
            }
        }
        if inbox.consumerWaiting { condition.broadcast() }
        return waitedSince == 0 ? 0 : DispatchTime.now().uptimeNanoseconds - waitedSince
    }

    /// The consumer is done with every checkpoint up to `checkpointId` (aligned, abandoned, or
    /// unaligned with its channel state complete): their barriers no longer overtake.
    func checkpointHandled(_ checkpointId: Int64) {
        inbox.condition.lock()
        handledCheckpoint = max(handledCheckpoint, checkpointId)
        pendingBarriers.removeAll { $0.barrier.checkpointId <= handledCheckpoint }
        if pendingBarriers.isEmpty { overtakingBarrierPending.store(false, ordering: .relaxed) }
        inbox.condition.unlock()
    }

    /// Unaligned checkpoints: the records channel `channel` holds before barrier `checkpointId`
    /// (they become channel state), or nil when that barrier is not queued yet. The queue is left
    /// as it is: the records are still processed, after the snapshot.
    func recordsQueued(before checkpointId: Int64, channel: Int) -> [(T, Int64?)]? {
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        var records: [(T, Int64?)] = []
        for batch in queues[channel] {
            for element in batch {
                switch element {
                case .record(let value, let timestamp): records.append((value, timestamp))
                case .barrier(let barrier) where barrier.checkpointId == checkpointId: return records
                default: break
                }
            }
        }
        return nil
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
            var wakeAt = deadline
            if let unaligned, let first = pendingBarriers.first, let overtakeAt = unaligned.overtakingDeadline(first.barrier) {
                if unaligned.mayOvertake(first.barrier) {
                    pendingBarriers.removeFirst()
                    if pendingBarriers.isEmpty { overtakingBarrierPending.store(false, ordering: .relaxed) }
                    return .overtakingBarrier(first.barrier, channel: first.channel)
                }
                wakeAt = min(wakeAt ?? overtakeAt, overtakeAt)
            }
            for offset in 0..<channelCount {
                let channel = (nextChannel + offset) % channelCount
                if !blocked[channel], let batch = queues[channel].popFirst() {
                    nextChannel = (channel + 1) % channelCount
                    if inbox.producersWaiting > 0 { condition.broadcast() }
                    return .batch(channel: channel, batch)
                }
            }
            if waited, let deadline, deadline <= Date() { return .timeout }
            inbox.waitLocked(until: wakeAt)
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
