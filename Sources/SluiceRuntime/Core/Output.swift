import Foundation

/// Where an operator emits to: the next chained operator, or the channels to other tasks.
/// Used only on the owning task's thread.
class Output<T: Sendable> {
    func collect(_ value: T, timestamp: Int64?) throws {}
    func emitWatermark(_ watermark: Int64) throws {}
    func emitIdleStatus(_ idle: Bool) throws {}
}

/// An operator's output that is dropped (sinks).
final class DiscardingOutput<T: Sendable>: Output<T> {}

/// Calls the next operator of the chain directly (no channel, same thread).
final class ChainingOutput<T: Sendable>: Output<T> {
    let target: any ElementInput<T>
    let counter: RecordCounter

    init(target: any ElementInput<T>, counter: RecordCounter) {
        self.target = target
        self.counter = counter
    }

    override func collect(_ value: T, timestamp: Int64?) throws {
        counter.count += 1
        try target.processElement(value, timestamp: timestamp)
    }

    override func emitWatermark(_ watermark: Int64) throws { try target.processWatermark(watermark) }
    override func emitIdleStatus(_ idle: Bool) throws { try target.processIdleStatus(idle) }
}

/// A plain counter an operator bumps per record; published to metrics per batch, not per record.
final class RecordCounter {
    var count: Int64 = 0
}

/// The input side of an operator, for `ChainingOutput` and the task's input loop.
protocol ElementInput<Input>: AnyObject {
    associatedtype Input: Sendable
    func processElement(_ value: Input, timestamp: Int64?) throws
    func processWatermark(_ watermark: Int64) throws
    func processIdleStatus(_ idle: Bool) throws
}

/// Non-record events a task sends down all its outgoing channels.
protocol ChannelWriter: AnyObject {
    func emitBarrier(_ barrier: CheckpointBarrier) throws
    func emitEndOfData() throws
    func emitEndOfPartition() throws
    /// Sends every partly filled batch.
    func flush() throws
    /// Nanoseconds spent blocked on full downstream channels since the last call.
    func takeBackpressureNanos() -> UInt64
    /// Unaligned checkpoints: barriers never wait for room downstream, and a send blocked on a
    /// full channel goes through when `overflowWhen` turns true (the task has a checkpoint to take).
    func enableUnalignedCheckpoints(overflowWhen: @escaping () -> Bool)
}

/// How records of one edge are spread over the downstream subtasks.
enum Partitioning<T: Sendable>: Sendable {
    case forward
    case rebalance
    case broadcast
    /// Key group of a record; the subtask follows from the key-group range assignment.
    case hash(@Sendable (T) -> Int, maxParallelism: Int)
}

/// One outgoing edge of a task: a batch buffer per downstream subtask.
final class EdgeWriter<T: Sendable> {
    private let gates: [InputGate<T>]
    /// This producer's channel index in each target gate.
    private let channel: Int
    private let partitioning: Partitioning<T>
    // Per record, these replace generic work on the arrays and the enum (unspecialised calls,
    // type metadata lookups, a retain of the partitioner's closure): the gate count, the hash
    // partitioner taken out of `partitioning` once, and the buffers' fill levels as plain integers.
    private let gateCount: Int
    private let keyGroupOf: (@Sendable (T) -> Int)?
    private let hashMaxParallelism: Int
    private var buffered: [Int]
    private let batchSize: Int
    private var buffers: [[StreamElement<T>]]
    private var roundRobin: Int
    var backpressureNanos: UInt64 = 0
    /// Unaligned checkpoints (see `ChannelWriter.enableUnalignedCheckpoints`); nil: aligned.
    var overflowWhen: (() -> Bool)?

    init(gates: [InputGate<T>], channel: Int, partitioning: Partitioning<T>, batchSize: Int, subtaskIndex: Int) {
        self.gates = gates
        self.channel = channel
        self.partitioning = partitioning
        gateCount = gates.count
        if case .hash(let keyGroupOf, let maxParallelism) = partitioning {
            self.keyGroupOf = keyGroupOf
            hashMaxParallelism = maxParallelism
        } else {
            keyGroupOf = nil
            hashMaxParallelism = 0
        }
        self.batchSize = max(1, batchSize)
        buffered = Array(repeating: 0, count: gates.count)
        buffers = Array(repeating: [], count: gates.count)
        roundRobin = subtaskIndex % max(1, gates.count)
        for i in buffers.indices { buffers[i].reserveCapacity(self.batchSize) }
    }

    @inline(__always)
    private func append(_ element: StreamElement<T>, to target: Int, flush: Bool = false, overflow: Bool = false) throws {
        buffers[target].append(element)
        buffered[target] += 1
        if flush || buffered[target] >= batchSize { try send(target, overflow: overflow) }
    }

    private func send(_ target: Int, overflow: Bool = false) throws {
        guard buffered[target] > 0 else { return }
        let batch = buffers[target]
        buffers[target].removeAll(keepingCapacity: true)
        buffered[target] = 0
        backpressureNanos &+= try gates[target].push(batch, channel: channel, overflow: overflow, overflowWhen: overflowWhen)
    }

    func collect(_ value: T, timestamp: Int64?) throws {
        let count = gateCount
        if let keyGroupOf {
            let target = KeyGroups.subtask(forKeyGroup: keyGroupOf(value), parallelism: count, maxParallelism: hashMaxParallelism)
            try append(.record(value, timestamp: timestamp), to: target)
            return
        }
        switch partitioning {
        case .forward:
            try append(.record(value, timestamp: timestamp), to: 0)
        case .rebalance:
            let target = roundRobin
            roundRobin = roundRobin + 1 == count ? 0 : roundRobin + 1
            try append(.record(value, timestamp: timestamp), to: target)
        case .broadcast:
            for target in 0..<count { try append(.record(value, timestamp: timestamp), to: target) }
        case .hash(let keyGroupOf, let maxParallelism):
            let target = KeyGroups.subtask(forKeyGroup: keyGroupOf(value), parallelism: count, maxParallelism: maxParallelism)
            try append(.record(value, timestamp: timestamp), to: target)
        }
    }

    func broadcastElement(_ element: StreamElement<T>, flush: Bool, overflow: Bool = false) throws {
        for target in 0..<gateCount { try append(element, to: target, flush: flush, overflow: overflow) }
    }

    func flush() throws {
        for target in 0..<gateCount { try send(target) }
    }
}

/// The tail of a chain: fans records out over the task's outgoing edges.
final class RecordWriter<T: Sendable>: Output<T>, ChannelWriter {
    private let edges: [EdgeWriter<T>]
    /// The edge when there is exactly one (the usual case): iterating the generic array would
    /// look up its type metadata and retain each edge, per record.
    private let onlyEdge: EdgeWriter<T>?
    let counter: RecordCounter

    init(edges: [EdgeWriter<T>], counter: RecordCounter) {
        self.edges = edges
        onlyEdge = edges.count == 1 ? edges.first : nil
        self.counter = counter
    }

    override func collect(_ value: T, timestamp: Int64?) throws {
        counter.count += 1
        if let onlyEdge {
            try onlyEdge.collect(value, timestamp: timestamp)
            return
        }
        for edge in edges { try edge.collect(value, timestamp: timestamp) }
    }

    override func emitWatermark(_ watermark: Int64) throws {
        for edge in edges { try edge.broadcastElement(.watermark(watermark), flush: false) }
    }

    override func emitIdleStatus(_ idle: Bool) throws {
        for edge in edges { try edge.broadcastElement(.idleStatus(idle), flush: false) }
    }

    func emitBarrier(_ barrier: CheckpointBarrier) throws {
        // Flushing right after the barrier keeps it last in its batch, so alignment never has
        // to split a batch in the common case.
        // Unaligned: the barrier (and the partly filled batch before it) never waits for room,
        // so a checkpoint is not held behind the backpressure it is meant to overtake.
        for edge in edges { try edge.broadcastElement(.barrier(barrier), flush: true, overflow: edge.overflowWhen != nil) }
    }

    func enableUnalignedCheckpoints(overflowWhen: @escaping () -> Bool) {
        for edge in edges { edge.overflowWhen = overflowWhen }
    }

    func emitEndOfData() throws {
        for edge in edges { try edge.broadcastElement(.endOfData, flush: true) }
    }

    func emitEndOfPartition() throws {
        for edge in edges { try edge.broadcastElement(.endOfPartition, flush: true) }
    }

    func flush() throws {
        for edge in edges { try edge.flush() }
    }

    func takeBackpressureNanos() -> UInt64 {
        var total: UInt64 = 0
        for edge in edges {
            total &+= edge.backpressureNanos
            edge.backpressureNanos = 0
        }
        return total
    }
}
