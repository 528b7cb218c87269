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
}

/// The untyped face of the typed input loop.
protocol InputProcessing: AnyObject {
    func processNext(delegate: any InputProcessorDelegate, deadline: Date?, wait: Bool) throws -> InputStatus
    /// The coordinator aborted `checkpointId`: stop aligning for it.
    func abortCheckpoint(_ checkpointId: Int64)
}

/// Barrier alignment over a task's input channels (exactly-once): a channel that delivered
/// barrier N is blocked until every channel did (finished channels count as aligned).
struct BarrierAligner {
    enum Action: Equatable {
        /// Old or aborted barrier: drop it.
        case ignore
        /// Block this channel and wait for the others.
        case block
        /// Abandon the older alignment (unblock everything), then block this channel.
        case restartAndBlock
        /// Every channel delivered it: snapshot now.
        case complete
    }

    let channelCount: Int
    private(set) var current: Int64?
    private var received: [Bool]
    private var finished: [Bool]
    /// Highest checkpoint id completed or aborted here: its stragglers are dropped.
    private(set) var lastHandled: Int64 = 0

    init(channelCount: Int) {
        self.channelCount = channelCount
        received = Array(repeating: false, count: channelCount)
        finished = Array(repeating: false, count: channelCount)
    }

    private var aligned: Bool {
        for i in 0..<channelCount where !received[i] && !finished[i] { return false }
        return true
    }

    mutating func onBarrier(_ id: Int64, channel: Int) -> Action {
        if id <= lastHandled { return .ignore }
        var restarted = false
        if let current, id < current { return .ignore }
        if current == nil || id > (current ?? 0) {
            restarted = current != nil
            current = id
            for i in 0..<channelCount { received[i] = false }
        }
        received[channel] = true
        if aligned {
            lastHandled = id
            current = nil
            return .complete
        }
        return restarted ? .restartAndBlock : .block
    }

    /// A channel ended; returns true when that completes the current alignment.
    mutating func onChannelFinished(_ channel: Int) -> Bool {
        finished[channel] = true
        guard let current, aligned else { return false }
        lastHandled = current
        self.current = nil
        return true
    }

    /// Returns true when the aborted checkpoint was being aligned (channels must be unblocked).
    mutating func onAbort(_ id: Int64) -> Bool {
        lastHandled = max(lastHandled, id)
        guard let current, current <= id else { return false }
        self.current = nil
        return true
    }
}

/// The typed input loop of a task: takes batches from the gate and feeds the chain head,
/// combining watermarks, aligning barriers and tracking end of input per channel.
final class InputProcessor<In: Sendable>: InputProcessing {
    let gate: InputGate<In>
    let head: Output<In>
    private var valve: WatermarkValve
    private var aligner: BarrierAligner
    private var pendingBarrier: CheckpointBarrier?
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
        aligner = BarrierAligner(channelCount: gate.channelCount)
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
                switch aligner.onBarrier(barrier.checkpointId, channel: channel) {
                case .ignore:
                    break
                case .block, .restartAndBlock:
                    guard alignsBarriers else {
                        // At-least-once: note the barrier, keep reading this channel.
                        pendingBarrier = barrier
                        break
                    }
                    if pendingBarrier.map({ $0.checkpointId != barrier.checkpointId }) ?? false { gate.unblockAll() }
                    pendingBarrier = barrier
                    gate.setBlocked(channel, true)
                    gate.unread(Array(batch[(index + 1)...]), channel: channel)
                    return
                case .complete:
                    pendingBarrier = nil
                    gate.unblockAll()
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
                if aligner.onChannelFinished(channel), let barrier = pendingBarrier {
                    pendingBarrier = nil
                    gate.unblockAll()
                    try delegate.performCheckpoint(barrier)
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

    func abortCheckpoint(_ checkpointId: Int64) {
        if aligner.onAbort(checkpointId) {
            pendingBarrier = nil
            gate.unblockAll()
        }
    }
}
