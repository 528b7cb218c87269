/// Names a side output of type `T` (Flink's OutputTag). Operators emit to it next to their main
/// output (`KeyedContext.output`, `ProcessWindowContext.output`, late window data); read it with
/// `DataStream.sideOutput(tag)`. Tags are equal when their ids are; one id has one type per job.
public struct OutputTag<T: Sendable>: Sendable, Hashable {
    public let id: String
    public init(_ id: String) { self.id = id }
}

/// The side outputs of one operator subtask that have consumers: tag id -> `Output<T>`, plus the
/// writers that must also get the operator's watermarks and idle status. A tag nobody reads
/// is not here, and records emitted to it are dropped (as in Flink).
final class SideOutputs {
    private let outputs: [String: AnyObject]
    let watermarkTargets: [any WatermarkTarget]

    init(outputs: [String: AnyObject] = [:], watermarkTargets: [any WatermarkTarget] = []) {
        self.outputs = outputs
        self.watermarkTargets = watermarkTargets
    }

    var isEmpty: Bool { outputs.isEmpty }

    func emit<T>(_ tag: OutputTag<T>, _ value: T, timestamp: Int64?) throws {
        // The job graph checked that every consumer of `tag.id` reads the type `T`.
        guard let output = outputs[tag.id] as? Output<T> else { return }
        try output.collect(value, timestamp: timestamp)
    }
}

/// Gets an operator's watermarks and idle status besides its main output (a side-output writer).
protocol WatermarkTarget: AnyObject {
    func emitWatermark(_ watermark: Int64) throws
    func emitIdleStatus(_ idle: Bool) throws
}

extension RecordWriter: WatermarkTarget {}

/// An operator's main output that also sends its watermarks and idle status down the operator's
/// side-output edges, so their consumers' event time advances too.
final class SideWatermarkOutput<T: Sendable>: Output<T> {
    let main: Output<T>
    let sides: [any WatermarkTarget]

    init(main: Output<T>, sides: [any WatermarkTarget]) {
        self.main = main
        self.sides = sides
    }

    override func collect(_ value: T, timestamp: Int64?) throws { try main.collect(value, timestamp: timestamp) }

    override func emitWatermark(_ watermark: Int64) throws {
        try main.emitWatermark(watermark)
        for side in sides { try side.emitWatermark(watermark) }
    }

    override func emitIdleStatus(_ idle: Bool) throws {
        try main.emitIdleStatus(idle)
        for side in sides { try side.emitIdleStatus(idle) }
    }
}

/// Builds the writer of one side output of a vertex; typed by the tag's `T`.
protocol SideOutputWiring: Sendable {
    var typeID: ObjectIdentifier { get }
    var typeName: String { get }
    /// Returns the writer (for barriers, flushing, end of data) and the same object as `Output<T>`.
    func makeWriter(edges: [OutgoingEdge], subtaskIndex: Int, batchSize: Int) throws -> (writer: any ChannelWriter, output: AnyObject, watermarks: any WatermarkTarget)
}

struct TypedSideOutput<T: Sendable>: SideOutputWiring {
    var typeID: ObjectIdentifier { ObjectIdentifier(T.self) }
    var typeName: String { String(describing: T.self) }

    func makeWriter(edges: [OutgoingEdge], subtaskIndex: Int, batchSize: Int) throws -> (writer: any ChannelWriter, output: AnyObject, watermarks: any WatermarkTarget) {
        let writer: RecordWriter<T> = try makeRecordWriter(edges: edges, subtaskIndex: subtaskIndex, batchSize: batchSize, counter: RecordCounter())
        return (writer, writer, writer)
    }
}

/// Several channel writers of one task (the main output's and its side outputs') as one.
final class CompositeChannelWriter: ChannelWriter {
    let writers: [any ChannelWriter]

    init(_ writers: [any ChannelWriter]) {
        self.writers = writers
    }

    func emitBarrier(_ barrier: CheckpointBarrier) throws { for writer in writers { try writer.emitBarrier(barrier) } }
    func emitEndOfData() throws { for writer in writers { try writer.emitEndOfData() } }
    func emitEndOfPartition() throws { for writer in writers { try writer.emitEndOfPartition() } }
    func flush() throws { for writer in writers { try writer.flush() } }
    func takeBackpressureNanos() -> UInt64 { writers.reduce(0) { $0 &+ $1.takeBackpressureNanos() } }
    func enableUnalignedCheckpoints(overflowWhen: @escaping () -> Bool) {
        for writer in writers { writer.enableUnalignedCheckpoints(overflowWhen: overflowWhen) }
    }
}
