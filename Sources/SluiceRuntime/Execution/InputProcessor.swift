import Foundation

/// What one step of the input loop did.
enum InputStatus {
    case processed
    case mail
    case timeout
    /// Every input channel delivered end-of-partition.
    case finished
}

/// Callbacks from the input loop into its task.
protocol InputProcessorDelegate: AnyObject {
    /// All inputs delivered barrier `barrier` (aligned): snapshot and forward it.
    func performCheckpoint(_ barrier: CheckpointBarrier) throws
    /// All inputs delivered end-of-data: finish the operators and forward it.
    func endOfData() throws
    /// Checkpoint `checkpointId` can no longer align here (an input skipped its barrier because it
    /// was aborted upstream): decline it so the coordinator need not wait for its timeout.
    func abandonCheckpoint(_ checkpointId: Int64, reason: String)
}

/// The untyped face of the typed input loop.
protocol InputProcessing: AnyObject {
    func processNext(delegate: any InputProcessorDelegate, deadline: Date?, wait: Bool) throws -> InputStatus
    /// The coordinator aborted `checkpointId`: stop aligning for it.
    func abortCheckpoint(_ checkpointId: Int64)
}

/// Barrier alignment over a task's input channels. Each channel delivers the barriers of
/// consecutive checkpoints in id order; several checkpoints may be in flight at once.
/// - Exactly-once (`oneAtATime`): a channel that delivered barrier N is blocked until every channel
///   did (finished channels count as aligned), so at most one alignment runs. A barrier of a newer
///   checkpoint on an unblocked channel means that channel's producer skipped N (N was aborted
///   upstream): the alignment of N is abandoned and the newer one starts (Flink does the same).
/// - At-least-once: nothing is blocked; each checkpoint id counts its own channels, and N is
///   snapshotted once barrier N arrived on every channel, even while N+1 is already under way.
struct BarrierAligner {
    enum Action: Equatable {
        /// A barrier of a completed, aborted or abandoned checkpoint: drop it.
        case ignore
        /// Recorded; other channels still owe this barrier. Exactly-once blocks the channel.
        /// `abandoned`: older alignments given up (exactly-once: unblock every channel first).
        case wait(abandoned: [Int64])
        /// Every channel delivered it: snapshot now. `abandoned`: older checkpoints that will
        /// never align here (some channel skipped their barrier).
        case complete(abandoned: [Int64])
    }

    /// What a finished channel completed, in order.
    enum Outcome: Equatable {
        case complete(CheckpointBarrier)
        case abandon(Int64)
    }

    private struct Alignment {
        let barrier: CheckpointBarrier
        var received: [Bool]
        var id: Int64 { barrier.checkpointId }
    }

    let channelCount: Int
    let oneAtATime: Bool
    private var finished: [Bool]
    /// Checkpoints whose barrier arrived on some channels but not all, ascending id.
    private var inProgress: [Alignment] = []
    /// Ids above `lastHandled` that the coordinator aborted: their barriers are dropped.
    private var aborted: Set<Int64> = []
    /// Highest checkpoint id completed or abandoned here: its and older stragglers are dropped.
    private(set) var lastHandled: Int64 = 0

    /// The checkpoints being aligned, ascending.
    var aligning: [Int64] { inProgress.map(\.id) }

    init(channelCount: Int, oneAtATime: Bool = true) {
        self.channelCount = channelCount
        self.oneAtATime = oneAtATime
        finished = Array(repeating: false, count: channelCount)
    }

    private func isAligned(_ alignment: Alignment) -> Bool {
        for i in 0..<channelCount where !alignment.received[i] && !finished[i] { return false }
        return true
    }

    private mutating func handled(upTo id: Int64) {
        lastHandled = max(lastHandled, id)
        aborted = aborted.filter { $0 > lastHandled }
    }

    mutating func onBarrier(_ barrier: CheckpointBarrier, channel: Int) -> Action {
        let id = barrier.checkpointId
        if id <= lastHandled || aborted.contains(id) { return .ignore }
        var abandoned: [Int64] = []
        if oneAtATime, let current = inProgress.last?.id, current != id {
            if id < current { return .ignore }
            abandoned = aligning
            inProgress.removeAll()
        }
        let index: Int
        if let found = inProgress.firstIndex(where: { $0.id == id }) {
            index = found
        } else {
            index = inProgress.firstIndex { $0.id > id } ?? inProgress.count
            inProgress.insert(Alignment(barrier: barrier, received: Array(repeating: false, count: channelCount)), at: index)
        }
        inProgress[index].received[channel] = true
        guard isAligned(inProgress[index]) else { return .wait(abandoned: abandoned) }
        abandoned += inProgress[..<index].map(\.id)
        inProgress.removeFirst(index + 1)
        handled(upTo: id)
        return .complete(abandoned: abandoned)
    }

    /// A channel ended (it counts as aligned from now on): the checkpoints that completes, in id
    /// order, with older ones that can no longer align abandoned.
    mutating func onChannelFinished(_ channel: Int) -> [Outcome] {
        finished[channel] = true
        guard let last = inProgress.lastIndex(where: isAligned) else { return [] }
        let outcomes = inProgress[...last].map { isAligned($0) ? Outcome.complete($0.barrier) : .abandon($0.id) }
        handled(upTo: inProgress[last].id)
        inProgress.removeFirst(last + 1)
        return outcomes
    }

    /// The coordinator aborted `id` (only that one: older checkpoints may still complete).
    /// Returns true when it was being aligned (exactly-once: its channels must be unblocked).
    mutating func onAbort(_ id: Int64) -> Bool {
        guard id > lastHandled else { return false }
        aborted.insert(id)
        let before = inProgress.count
        inProgress.removeAll { $0.id == id }
        return inProgress.count != before
    }
}

/// The typed input loop of a task: takes batches from the gate and feeds the chain head,
/// combining watermarks, aligning barriers and tracking end of input per channel.
final class InputProcessor<In: Sendable>: InputProcessing {
    let gate: InputGate<In>
    let head: Output<In>
    private var valve: WatermarkValve
    private var aligner: BarrierAligner
    private var endOfData: [Bool]
    private var endOfPartition: [Bool]
    private var endOfDataSignalled = false
    /// A channel ended without end-of-data: its producer stopped (stop-with-savepoint without
    /// draining), so operators are not finished and no final watermark is derived from it.
    private var stoppedWithoutDrain = false

    /// Exactly-once mode: block channels that delivered the pending barrier. At-least-once mode:
    /// keep reading every channel and snapshot once the barrier arrived on all of them.
    let alignsBarriers: Bool

    init(gate: InputGate<In>, head: Output<In>, alignsBarriers: Bool = true) {
        self.gate = gate
        self.head = head
        self.alignsBarriers = alignsBarriers
        valve = WatermarkValve(channelCount: gate.channelCount)
        aligner = BarrierAligner(channelCount: gate.channelCount, oneAtATime: alignsBarriers)
        endOfData = Array(repeating: false, count: gate.channelCount)
        endOfPartition = Array(repeating: false, count: gate.channelCount)
    }

    func processNext(delegate: any InputProcessorDelegate, deadline: Date?, wait: Bool) throws -> InputStatus {
        if !endOfPartition.contains(false) { return .finished }
        switch gate.next(until: wait ? deadline : .distantPast) {
        case .cancelled: throw TaskCancelled()
        case .mail: return .mail
        case .timeout: return .timeout
        case .batch(let channel, let batch):
            try process(batch, channel: channel, delegate: delegate)
            return endOfPartition.contains(false) ? .processed : .finished
        }
    }

    private func process(_ batch: [StreamElement<In>], channel: Int, delegate: any InputProcessorDelegate) throws {
        var index = 0
        let count = batch.count
        while index < count {
            switch batch[index] {
            case .record(let value, let timestamp):
                try head.collect(value, timestamp: timestamp)
            case .watermark(let watermark):
                try apply(valve.inputWatermark(watermark, channel: channel))
            case .idleStatus(let idle):
                try apply(valve.inputIdleStatus(idle, channel: channel))
            case .barrier(let barrier):
                switch aligner.onBarrier(barrier, channel: channel) {
                case .ignore:
                    break
                case .wait(let abandoned):
                    // At-least-once: the barrier is counted; keep reading this channel.
                    guard alignsBarriers else { break }
                    if !abandoned.isEmpty { gate.unblockAll() }
                    abandon(abandoned, newer: barrier.checkpointId, delegate: delegate)
                    gate.setBlocked(channel, true)
                    gate.unread(Array(batch[(index + 1)...]), channel: channel)
                    return
                case .complete(let abandoned):
                    if alignsBarriers { gate.unblockAll() }
                    abandon(abandoned, newer: barrier.checkpointId, delegate: delegate)
                    try delegate.performCheckpoint(barrier)
                }
            case .endOfData:
                endOfData[channel] = true
                try apply(valve.inputWatermark(Watermark.max, channel: channel))
                try signalEndOfDataIfComplete(delegate)
            case .endOfPartition:
                endOfPartition[channel] = true
                if !endOfData[channel] { stoppedWithoutDrain = true }
                endOfData[channel] = true
                try signalEndOfDataIfComplete(delegate)
                let outcomes = aligner.onChannelFinished(channel)
                if alignsBarriers && !outcomes.isEmpty { gate.unblockAll() }
                for outcome in outcomes {
                    switch outcome {
                    case .complete(let barrier): try delegate.performCheckpoint(barrier)
                    case .abandon(let id): delegate.abandonCheckpoint(id, reason: "an input ended without its barrier")
                    }
                }
            }
            index += 1
        }
    }

    private func signalEndOfDataIfComplete(_ delegate: any InputProcessorDelegate) throws {
        guard !endOfDataSignalled, !stoppedWithoutDrain, !endOfData.contains(false) else { return }
        endOfDataSignalled = true
        try delegate.endOfData()
    }

    private func apply(_ updates: [WatermarkUpdate]) throws {
        for update in updates {
            switch update {
            case .watermark(let wm): try head.emitWatermark(wm)
            case .idle: try head.emitIdleStatus(true)
            case .active: try head.emitIdleStatus(false)
            }
        }
    }

    private func abandon(_ ids: [Int64], newer: Int64, delegate: any InputProcessorDelegate) {
        for id in ids {
            delegate.abandonCheckpoint(id, reason: "an input delivered the barrier of checkpoint \(newer) before that of \(id)")
        }
    }

    func abortCheckpoint(_ checkpointId: Int64) {
        if aligner.onAbort(checkpointId) && alignsBarriers { gate.unblockAll() }
    }
}
