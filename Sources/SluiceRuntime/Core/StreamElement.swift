/// A checkpoint barrier: flows with the records; everything before it belongs to checkpoint `id`.
struct CheckpointBarrier: Sendable, Equatable {
    let checkpointId: Int64
    /// Trigger time, milliseconds on the runtime clock.
    let timestamp: Int64
    /// The checkpoint taken after all sources reached end of input.
    let isFinal: Bool
    /// Set when this barrier takes a savepoint instead of a checkpoint.
    let savepoint: SavepointTarget?

    init(checkpointId: Int64, timestamp: Int64, isFinal: Bool, savepoint: SavepointTarget? = nil) {
        self.checkpointId = checkpointId
        self.timestamp = timestamp
        self.isFinal = isFinal
        self.savepoint = savepoint
    }
}

/// Where a savepoint goes and whether the job stops after it (stop-with-savepoint).
struct SavepointTarget: Sendable, Equatable {
    /// The savepoint's own folder; its `_metadata` is written last.
    let path: String
    /// Sources stop after this barrier without emitting the final watermark (no --drain).
    let stopsJob: Bool
}

/// Watermark constants. A watermark `w` says no more records with timestamp <= `w` will arrive.
public enum Watermark {
    public static let min = Int64.min
    /// Emitted at end of input: fires every pending event-time timer and window.
    public static let max = Int64.max
}

/// What moves through a channel, in order.
enum StreamElement<T: Sendable>: Sendable {
    case record(T, timestamp: Int64?)
    case watermark(Int64)
    case idleStatus(Bool)
    case barrier(CheckpointBarrier)
    /// No more records will follow on this channel; barriers still may (final checkpoint).
    case endOfData
    /// The producer is gone; nothing more follows.
    case endOfPartition
}
