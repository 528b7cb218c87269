import Foundation
import Logging
import Metrics

/// What `pollNext` reports.
public enum SourceStatus: Sendable {
    /// Call again right away.
    case moreAvailable
    /// Nothing now; the runtime waits briefly (processing mail meanwhile) before calling again.
    case nothingAvailable
    /// This reader is done: the runtime emits the final watermark and, after the final
    /// checkpoint completed, end of stream.
    case endOfInput
}

/// What a source reader gets when it opens.
public struct SourceReaderContext: Sendable {
    public let subtaskIndex: Int
    public let parallelism: Int
    /// On restore: the UNION of the state entries every old subtask snapshotted, so a reader can
    /// take the splits it is now assigned and drop the rest. Empty on a fresh start.
    public let restoredState: [Data]
    /// The checkpoint restored from, nil on a fresh start.
    public let restoredCheckpointId: Int64?
    public let logger: Logger
    /// Labels for the reader's own metrics: job, operator, subtask.
    public let metricDimensions: [(String, String)]
    public let metricsFactory: any MetricsFactory
    public let clock: any RuntimeClock
    /// Asks the coordinator for a checkpoint as soon as possible (tests, bounded jobs).
    public let requestCheckpoint: @Sendable () -> Void
}

/// A parallel source subtask's reader (a simplified FLIP-27 SourceReader). Called only on its
/// subtask's thread; the runtime injects checkpoint barriers between `pollNext` calls.
public protocol SourceReader<Output>: AnyObject, SendableMetatype {
    associatedtype Output: Sendable
    func open(_ context: SourceReaderContext) throws
    /// Emits zero or more records through `output` (a small batch is best) and reports whether
    /// more are available.
    func pollNext(_ output: SourceOutput<Output>) throws -> SourceStatus
    /// The reader's position as list-state entries (e.g. one per split with its next offset).
    func snapshotState(checkpointId: Int64) throws -> [Data]
    func notifyCheckpointComplete(_ checkpointId: Int64) throws
    func notifyCheckpointAborted(_ checkpointId: Int64) throws
    func close() throws
}

extension SourceReader {
    public func notifyCheckpointComplete(_ checkpointId: Int64) throws {}
    public func notifyCheckpointAborted(_ checkpointId: Int64) throws {}
    public func close() throws {}
}

/// A source: creates one reader per parallel subtask (and per restart).
public protocol Source<Output>: Sendable {
    associatedtype Output: Sendable
    associatedtype Reader: SourceReader where Reader.Output == Output
    func createReader(subtaskIndex: Int) throws -> Reader
}

/// Where a reader emits records; feeds the per-split watermark generators.
public final class SourceOutput<T: Sendable> {
    let output: Output<T>
    let watermarks: SplitWatermarkMultiplexer?
    let timestampAssigner: (@Sendable (T, Int64?) -> Int64)?
    let clock: any RuntimeClock
    private var now: Int64 = 0
    var emitted = 0

    init(output: Output<T>, watermarks: SplitWatermarkMultiplexer?, timestampAssigner: (@Sendable (T, Int64?) -> Int64)?, clock: any RuntimeClock) {
        self.output = output
        self.watermarks = watermarks
        self.timestampAssigner = timestampAssigner
        self.clock = clock
    }

    /// Called by the runtime before each `pollNext`, so records of one poll share one clock read.
    func beginPoll(now: Int64) { self.now = now }

    /// A record without a reader timestamp, from the single implicit split.
    public func collect(_ value: T) throws {
        try collect(value, timestamp: nil, split: "")
    }

    public func collect(_ value: T, timestamp: Int64?) throws {
        try collect(value, timestamp: timestamp, split: "")
    }

    /// A record of `split` (e.g. "topic-3"), with the reader's timestamp (e.g. the Kafka record's).
    public func collect(_ value: T, timestamp: Int64?, split: String) throws {
        // Not `timestampAssigner.map { ... }`: in this generic code that call allocates a context
        // and looks up the function type's metadata, per record.
        let eventTime: Int64?
        if let timestampAssigner {
            eventTime = timestampAssigner(value, timestamp)
        } else {
            eventTime = timestamp
        }
        if let watermarks, let eventTime { watermarks.onRecord(split: split, timestamp: eventTime, now: now) }
        emitted += 1
        try output.collect(value, timestamp: eventTime)
    }

    /// The reader was assigned `split`: it holds the watermark back until idle or released.
    public func registerSplit(_ split: String) {
        watermarks?.registerSplit(split, now: clock.nowMillis())
    }

    /// A restored split: `maxTimestamp` is what `maxTimestamp(ofSplit:)` said when the checkpoint
    /// was taken. A split that yields nothing new after the restore then holds the watermark where
    /// it was before, not at the beginning of time until its idle timeout (which, with a long
    /// timeout, kept the last windows from firing after a recovery).
    public func registerSplit(_ split: String, restoredMaxTimestamp maxTimestamp: Int64?) {
        watermarks?.registerSplit(split, now: clock.nowMillis(), maxTimestamp: maxTimestamp)
    }

    /// The largest event time `split` has yielded (or was restored with), for the reader's
    /// checkpoint; nil before any, or without watermarks.
    public func maxTimestamp(ofSplit split: String) -> Int64? {
        watermarks?.maxTimestamp(ofSplit: split)
    }

    /// For a reader that knows its event time itself (an exchange's reader, from its writers'
    /// watermark records), with `.noWatermarks` as the source's strategy: emits `watermark` when it
    /// is above the last one, and ends idleness.
    public func emitReaderWatermark(_ watermark: Int64) throws {
        guard watermarks == nil else { return }
        if readerIdle {
            readerIdle = false
            try output.emitIdleStatus(false)
        }
        guard watermark > readerWatermark else { return }
        readerWatermark = watermark
        try output.emitWatermark(watermark)
    }

    /// For such a reader: none of its inputs holds event time back now (true) or again (false).
    public func markReaderIdle(_ idle: Bool) throws {
        guard watermarks == nil, idle != readerIdle else { return }
        readerIdle = idle
        try output.emitIdleStatus(idle)
    }

    private(set) var readerIdle = false
    private var readerWatermark: Int64 = .min

    /// The reader finished or lost `split`.
    public func releaseSplit(_ split: String) {
        watermarks?.releaseSplit(split, now: clock.nowMillis())
    }
}

/// The source operator: drives a reader, keeps its state as UNION operator list state, and
/// emits the combined watermark after each poll.
final class SourceOperator<R: SourceReader>: StreamOperatorBase {
    typealias T = R.Output
    static var stateName: String { "source-reader-state" }

    let reader: R
    let output: Output<T>
    let sourceOutput: SourceOutput<T>
    let watermarks: SplitWatermarkMultiplexer?
    private var readerState: OperatorListState<Data>?
    private var opened = false

    init(setup: OperatorSetup, output: Output<T>, reader: R, strategy: WatermarkStrategy<T>) {
        self.reader = reader
        self.output = output
        if let bound = strategy.outOfOrdernessMillis {
            watermarks = SplitWatermarkMultiplexer(
                outOfOrdernessMillis: bound, idleTimeoutMillis: strategy.idlenessMillis, now: setup.clock.nowMillis())
        } else {
            watermarks = nil
        }
        sourceOutput = SourceOutput(output: output, watermarks: watermarks, timestampAssigner: strategy.timestampAssigner, clock: setup.clock)
        super.init(setup: setup)
    }

    override func open() throws {
        let state = try operatorStateStore.listState(Self.stateName, Data.self, distribution: .union)
        readerState = state
        let restored = state.get()
        state.clear()
        let context = SourceReaderContext(
            subtaskIndex: setup.subtaskIndex, parallelism: setup.parallelism, restoredState: restored,
            restoredCheckpointId: setup.restore?.checkpointId, logger: setup.logger,
            metricDimensions: setup.metrics.dimensions(operatorID: setup.operatorID, subtask: setup.subtaskIndex),
            metricsFactory: setup.metrics.factory, clock: setup.clock,
            requestCheckpoint: setup.services.requestCheckpoint)
        try reader.open(context)
        opened = true
    }

    /// Polls once and emits the watermark changes it caused.
    func pollNext() throws -> SourceStatus {
        let now = setup.clock.nowMillis()
        sourceOutput.beginPoll(now: now)
        let status = try reader.pollNext(sourceOutput)
        try emitWatermarkUpdates(now: now)
        return status
    }

    func emitWatermarkUpdates(now: Int64) throws {
        guard let watermarks else { return }
        for update in watermarks.poll(now: now) {
            switch update {
            case .idle: try output.emitIdleStatus(true)
            case .active: try output.emitIdleStatus(false)
            case .watermark(let wm): try output.emitWatermark(wm)
            }
        }
    }

    /// End of input: the final watermark fires every event-time timer downstream.
    func endInput() throws {
        if watermarks?.isIdle == true || sourceOutput.readerIdle { try output.emitIdleStatus(false) }
        try output.emitWatermark(Watermark.max)
    }

    override func snapshotState(checkpointId: Int64) throws -> OperatorSnapshot {
        readerState?.update(try reader.snapshotState(checkpointId: checkpointId))
        return OperatorSnapshot(operatorState: try operatorStateStore.snapshot(), keyedState: [], keyGroupRange: nil)
    }

    override func notifyCheckpointComplete(_ checkpointId: Int64) throws { try reader.notifyCheckpointComplete(checkpointId) }
    override func notifyCheckpointAborted(_ checkpointId: Int64) throws { try reader.notifyCheckpointAborted(checkpointId) }

    override func close(failed: Bool) {
        guard opened else { return }
        do { try reader.close() } catch { setup.logger.warning("Closing the source reader failed: \(error)") }
    }
}
