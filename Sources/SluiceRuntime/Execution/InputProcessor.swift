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
    /// Unaligned checkpoints: snapshot the operators for `barrier` now and forward it, ahead of
    /// the records still queued before it; the checkpoint is acknowledged once
    /// `completeUnalignedCheckpoint` hands over those records (the channel state).
    func startUnalignedCheckpoint(_ barrier: CheckpointBarrier) throws
    /// Every input delivered the barrier of the unaligned checkpoint `checkpointId`:
    /// `channelState` holds the records that preceded it and were processed after the snapshot.
    func completeUnalignedCheckpoint(_ checkpointId: Int64, channelState: [UInt8]) throws
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

    /// Unaligned checkpoints: checkpoint `barrier` is snapshotted now, whatever channels still owe
    /// its barrier. Returns the channels that delivered it already (their part is complete) and
    /// older alignments that are given up; nil when the barrier is stale (handled or aborted).
    mutating func overtake(_ barrier: CheckpointBarrier) -> (delivered: [Bool], abandoned: [Int64])? {
        let id = barrier.checkpointId
        if id <= lastHandled || aborted.contains(id) { return nil }
        var delivered = finished
        var abandoned: [Int64] = []
        for alignment in inProgress {
            if alignment.id == id {
                for i in 0..<channelCount where alignment.received[i] { delivered[i] = true }
            } else if alignment.id < id {
                abandoned.append(alignment.id)
            }
        }
        inProgress.removeAll { $0.id <= id }
        handled(upTo: id)
        return (delivered, abandoned)
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
    /// Set when barriers may overtake records here (unaligned checkpoints and a codable input).
    private let unaligned: Bool
    /// The unaligned checkpoint whose channel state is still being collected.
    private var inFlight: InFlightRecords<In>?
    /// Channel state of the restored checkpoint: processed before anything from the gate.
    private var replay: [(In, Int64?)]
    private var reportedHandled: Int64 = 0

    init(gate: InputGate<In>, head: Output<In>, alignsBarriers: Bool = true, unaligned: Bool = false, replay: [(In, Int64?)] = []) {
        self.gate = gate
        self.head = head
        self.alignsBarriers = alignsBarriers
        self.unaligned = unaligned && alignsBarriers
        self.replay = replay
        valve = WatermarkValve(channelCount: gate.channelCount)
        aligner = BarrierAligner(channelCount: gate.channelCount, oneAtATime: alignsBarriers)
        endOfData = Array(repeating: false, count: gate.channelCount)
        endOfPartition = Array(repeating: false, count: gate.channelCount)
    }

    func processNext(delegate: any InputProcessorDelegate, deadline: Date?, wait: Bool) throws -> InputStatus {
        if !replay.isEmpty {
            let records = replay
            replay = []
            for (value, timestamp) in records { try head.collect(value, timestamp: timestamp) }
            return .processed
        }
        if !endOfPartition.contains(false) { return .finished }
        switch gate.next(until: wait ? deadline : .distantPast) {
        case .cancelled: throw TaskCancelled()
        case .mail: return .mail
        case .timeout: return .timeout
        case .overtakingBarrier(let barrier, let channel):
            guard unaligned else { return .processed }
            if let state = inFlight, state.checkpointId == barrier.checkpointId {
                // A later barrier of the checkpoint under way: its channel's part is what is queued before it.
                if !state.complete[channel] {
                    inFlight?.records.append(contentsOf: gate.recordsQueued(before: barrier.checkpointId, channel: channel) ?? [])
                    inFlight?.complete[channel] = true
                    try completeInFlightIfDone(delegate)
                }
            } else {
                try overtake(barrier, delegate: delegate)
            }
            return .processed
        case .batch(let channel, let batch):
            try process(batch, channel: channel, delegate: delegate)
            if unaligned && aligner.lastHandled > reportedHandled {
                reportedHandled = aligner.lastHandled
                gate.checkpointHandled(reportedHandled)
            }
            return endOfPartition.contains(false) ? .processed : .finished
        }
    }

    /// Takes checkpoint `barrier` now: the records still queued before its barrier on each channel,
    /// and those that arrive before it, are the checkpoint's channel state.
    private func overtake(_ barrier: CheckpointBarrier, delegate: any InputProcessorDelegate) throws {
        guard let (delivered, abandoned) = aligner.overtake(barrier) else { return }
        let id = barrier.checkpointId
        // The gate hears of it once the channel state is complete: until then the barriers still
        // to come on other channels must overtake too.
        reportedHandled = max(reportedHandled, id)
        gate.unblockAll()
        abandon(abandoned, newer: id, delegate: delegate)
        var state = InFlightRecords<In>(checkpointId: id, channelCount: gate.channelCount)
        for channel in 0..<gate.channelCount {
            if delivered[channel] || endOfPartition[channel] {
                state.complete[channel] = true
                continue
            }
            // With its barrier queued, a channel's part is known now; without it, every record
            // it delivers until the barrier is logged as it is processed (queued ones included).
            if let records = gate.recordsQueued(before: id, channel: channel) {
                state.records.append(contentsOf: records)
                state.complete[channel] = true
            }
        }
        inFlight = state
        try delegate.startUnalignedCheckpoint(barrier)
        try completeInFlightIfDone(delegate)
    }

    private func completeInFlightIfDone(_ delegate: any InputProcessorDelegate) throws {
        guard let state = inFlight, !state.complete.contains(false) else { return }
        inFlight = nil
        gate.checkpointHandled(state.checkpointId)
        try delegate.completeUnalignedCheckpoint(state.checkpointId, channelState: try ChannelStateCoding.encode(state.records))
    }

    private func process(_ batch: [StreamElement<In>], channel: Int, delegate: any InputProcessorDelegate) throws {
        var index = 0
        let count = batch.count
        while index < count {
            switch batch[index] {
            case .record(let value, let timestamp):
                if inFlight != nil, inFlight?.complete[channel] == false { inFlight?.records.append((value, timestamp)) }
                try head.collect(value, timestamp: timestamp)
                if unaligned && gate.hasOvertakingBarrier && index + 1 < count {
                    // A barrier may overtake: the rest of this batch waits behind it (and is
                    // found as queued records by the snapshot).
                    gate.unread(Array(batch[(index + 1)...]), channel: channel)
                    return
                }
            case .watermark(let watermark):
                try apply(valve.inputWatermark(watermark, channel: channel))
            case .idleStatus(let idle):
                try apply(valve.inputIdleStatus(idle, channel: channel))
            case .barrier(let barrier):
                if let state = inFlight, state.checkpointId == barrier.checkpointId {
                    inFlight?.complete[channel] = true
                    try completeInFlightIfDone(delegate)
                    break
                }
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
                if inFlight != nil {
                    inFlight?.complete[channel] = true
                    try completeInFlightIfDone(delegate)
                }
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
        if inFlight?.checkpointId == checkpointId {
            inFlight = nil
            gate.checkpointHandled(checkpointId)
        }
        if aligner.onAbort(checkpointId) && alignsBarriers { gate.unblockAll() }
    }
}

/// The channel state of one unaligned checkpoint while its barrier is still owed by some channels.
struct InFlightRecords<In> {
    let checkpointId: Int64
    var records: [(In, Int64?)] = []
    /// Per channel: its barrier arrived (or it ended), so its part is collected.
    var complete: [Bool]

    init(checkpointId: Int64, channelCount: Int) {
        self.checkpointId = checkpointId
        complete = Array(repeating: false, count: channelCount)
    }
}

/// The channel state's bytes: the in-flight records of a task's inputs, in the order they are
/// replayed. Needs an input type that is `BinaryCodable` (checked before unaligned checkpoints are used).
enum ChannelStateCoding {
    static let version: UInt8 = 1

    static func encode<In>(_ records: [(In, Int64?)]) throws -> [UInt8] {
        guard !records.isEmpty else { return [] }
        var writer = BinaryWriter(capacity: 64 * records.count)
        writer.writeUInt8(version)
        writer.writeVarUInt(UInt64(records.count))
        for (value, timestamp) in records {
            guard let codable = value as? any BinaryCodable else { throw StateSerializationError.unsupportedType("\(In.self)") }
            writer.writeBool(timestamp != nil)
            if let timestamp { writer.writeInt64(timestamp) }
            codable.encode(to: &writer)
        }
        return writer.bytes
    }

    static func decode<In>(_ bytes: [UInt8], as type: In.Type) throws -> [(In, Int64?)] {
        guard !bytes.isEmpty else { return [] }
        guard let codable = In.self as? any BinaryCodable.Type else { throw StateSerializationError.unsupportedType("\(In.self)") }
        var reader = BinaryReader(bytes)
        let found = try reader.readUInt8()
        guard found == version else {
            throw StateSerializationError.invalidData("channel state format \(found) is not known to this build (it reads \(version))")
        }
        let count = try reader.readVarInt()
        var records: [(In, Int64?)] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let timestamp: Int64? = try reader.readBool() ? try reader.readInt64() : nil
            guard let value = try codable.init(from: &reader) as? In else { throw StateSerializationError.unsupportedType("\(In.self)") }
            records.append((value, timestamp))
        }
        return records
    }

    /// Whether records of `type` can be channel state.
    static func canEncode<In>(_ type: In.Type) -> Bool { In.self is any BinaryCodable.Type }
}
