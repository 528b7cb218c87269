import Foundation
import Synchronization

/// Errors of the built-in test connectors.
public enum CollectionConnectorError: Error, CustomStringConvertible {
    case cannotRescale(previous: Int, now: Int)
    case transactionNotFound(String)
    case transactionAborted(String)

    public var description: String {
        switch self {
        case .cannotRescale(let previous, let now):
            return "A collection source checkpointed with parallelism \(previous) cannot restore with parallelism \(now): keep the parallelism."
        case .transactionNotFound(let id):
            return "Transaction \(id) is unknown to the in-memory store."
        case .transactionAborted(let id):
            return "Transaction \(id) was aborted and cannot be committed."
        }
    }
}

/// A bounded (or endless) source over an array, for tests and examples. Subtask i of p reads the
/// elements at indices i, i+p, i+2p, ...; its position is checkpointed, so a restored job
/// continues exactly after the last checkpointed element.
public struct CollectionSource<T: Sendable>: Source {
    public let elements: [T]
    /// Records emitted per `pollNext`.
    public let recordsPerPoll: Int
    /// After every this many records (per subtask), request a checkpoint and pause until one
    /// completes: makes checkpoint positions deterministic in tests.
    public let checkpointEvery: Int?
    /// Keep running (reporting `.nothingAvailable`) after the last element instead of ending.
    public let endless: Bool
    /// Called with the element index before each record is emitted (tests inject faults here).
    public let onEmit: (@Sendable (Int) throws -> Void)?
    /// Optional split of each element (per-split watermarks in tests).
    public let split: (@Sendable (T) -> String)?

    public init(
        _ elements: [T], recordsPerPoll: Int = 64, checkpointEvery: Int? = nil, endless: Bool = false,
        split: (@Sendable (T) -> String)? = nil, onEmit: (@Sendable (Int) throws -> Void)? = nil
    ) {
        self.elements = elements
        self.recordsPerPoll = max(1, recordsPerPoll)
        self.checkpointEvery = checkpointEvery
        self.endless = endless
        self.split = split
        self.onEmit = onEmit
    }

    public func createReader(subtaskIndex: Int) throws -> CollectionSourceReader<T> {
        CollectionSourceReader(source: self)
    }
}

/// The reader of a `CollectionSource`.
public final class CollectionSourceReader<T: Sendable>: SourceReader {
    public typealias Output = T
    let source: CollectionSource<T>
    private var context: SourceReaderContext?
    /// Next element index of this subtask's stride.
    private var next = 0
    private var stride = 1
    private var subtask = 0
    private var emittedSincePause = 0
    private var paused = false

    init(source: CollectionSource<T>) {
        self.source = source
    }

    public func open(_ context: SourceReaderContext) throws {
        self.context = context
        stride = context.parallelism
        subtask = context.subtaskIndex
        next = subtask
        for entry in context.restoredState {
            var reader = BinaryReader([UInt8](entry))
            let index = try reader.readVarInt()
            let parallelism = try reader.readVarInt()
            let position = try reader.readVarInt()
            guard parallelism == context.parallelism else {
                throw CollectionConnectorError.cannotRescale(previous: parallelism, now: context.parallelism)
            }
            if index == subtask { next = position }
        }
    }

    public func pollNext(_ output: SourceOutput<T>) throws -> SourceStatus {
        if paused { return .nothingAvailable }
        var emitted = 0
        while emitted < source.recordsPerPoll, next < source.elements.count {
            let value = source.elements[next]
            try source.onEmit?(next)
            if let split = source.split {
                try output.collect(value, timestamp: nil, split: split(value))
            } else {
                try output.collect(value)
            }
            next += stride
            emitted += 1
            if let every = source.checkpointEvery {
                emittedSincePause += 1
                if emittedSincePause >= every {
                    emittedSincePause = 0
                    paused = true
                    context?.requestCheckpoint()
                    return .nothingAvailable
                }
            }
        }
        if next >= source.elements.count { return source.endless ? .nothingAvailable : .endOfInput }
        return .moreAvailable
    }

    public func snapshotState(checkpointId: Int64) throws -> [Data] {
        var writer = BinaryWriter(capacity: 16)
        writer.writeVarInt(subtask)
        writer.writeVarInt(stride)
        writer.writeVarInt(next)
        return [Data(writer.bytes)]
    }

    public func notifyCheckpointComplete(_ checkpointId: Int64) throws { paused = false }

    public func notifyCheckpointAborted(_ checkpointId: Int64) throws {
        if paused { context?.requestCheckpoint() }
    }
}
