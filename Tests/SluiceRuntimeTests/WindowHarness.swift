import Foundation
import Logging
import Metrics
@testable import SluiceRuntime

/// What an operator emitted, in order.
enum Emitted<T: Sendable & Equatable>: Equatable {
    case record(T, timestamp: Int64?)
    case watermark(Int64)
}

/// An `Output` that records everything, for driving one operator directly.
final class CapturingOutput<T: Sendable & Equatable>: Output<T> {
    var emitted: [Emitted<T>] = []
    override func collect(_ value: T, timestamp: Int64?) throws { emitted.append(.record(value, timestamp: timestamp)) }
    override func emitWatermark(_ watermark: Int64) throws { emitted.append(.watermark(watermark)) }
    var records: [T] {
        emitted.compactMap { if case .record(let value, _) = $0 { return value } else { return nil } }
    }
    func takeRecords() -> [T] {
        defer { emitted.removeAll() }
        return records
    }
}

/// Drives the operator that a stream declaration created, on the test's thread, as Flink's
/// KeyedOneInputStreamOperatorTestHarness does: records, watermarks, processing time,
/// snapshot and restore. Fully deterministic.
final class OperatorHarness<In: Sendable & Equatable, Out: Sendable & Equatable> {
    let factory: TypedNodeFactory<In, Out>
    let clock: ManualClock
    let output = CapturingOutput<Out>()
    let late = CapturingOutput<In>()
    let lateTag: String?
    /// Side output of strings (tag id `notes`), e.g. from a process window function.
    let notes = CapturingOutput<String>()
    let metrics = TestMetrics()
    private(set) var op: OneInputOperator<In, Out>

    /// `declare` builds the job in `env` from a source of `In` and returns the stream under test.
    init(
        lateTag: String? = nil, clock: ManualClock = ManualClock(), restoring keyedState: [UInt8]? = nil,
        _ declare: (DataStream<In>) -> DataStream<Out>
    ) throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let stream = declare(env.fromCollection([In]()))
        guard let factory = env.draft(stream.nodeId)?.factory as? TypedNodeFactory<In, Out> else {
            throw WiringError(description: "the declared stream is not a one-input operator from \(In.self) to \(Out.self)")
        }
        self.factory = factory
        self.clock = clock
        self.lateTag = lateTag
        let sides = Self.sides(notes: notes, late: late, lateTag: lateTag)
        op = try Self.instantiate(factory, clock: clock, sides: sides, metrics: metrics, output: output, keyedState: keyedState)
    }

    private static func instantiate(
        _ factory: TypedNodeFactory<In, Out>, clock: ManualClock, sides: [String: AnyObject], metrics: TestMetrics,
        output: CapturingOutput<Out>, keyedState: [UInt8]?
    ) throws -> OneInputOperator<In, Out> {
        var logger = Logger(label: "sluice.test")
        logger.logLevel = .critical
        let restore = keyedState.map { OperatorRestore(checkpointId: 1, previousParallelism: 1, operatorLists: [:], keyedBlobs: [$0]) }
        let setup = OperatorSetup(
            operatorID: "window", subtaskIndex: 0, parallelism: 1, maxParallelism: 128, logger: logger,
            metrics: RuntimeMetrics(factory: metrics, jobName: "test"), restore: restore, clock: clock, faultInjector: .disabled,
            services: TaskServices(requestCheckpoint: {}, firstCheckpointId: 1),
            sideOutputs: SideOutputs(outputs: sides))
        guard let op = try factory.make(setup, output) as? OneInputOperator<In, Out> else {
            throw WiringError(description: "not a one-input operator")
        }
        try op.open()
        return op
    }

    private var sides: [String: AnyObject] { Self.sides(notes: notes, late: late, lateTag: lateTag) }

    private static func sides(notes: CapturingOutput<String>, late: CapturingOutput<In>, lateTag: String?) -> [String: AnyObject] {
        var sides: [String: AnyObject] = ["notes": notes]
        if let lateTag { sides[lateTag] = late }
        return sides
    }

    func element(_ value: In, _ timestamp: Int64?) throws { try op.processElement(value, timestamp: timestamp) }
    func watermark(_ watermark: Int64) throws { try op.processWatermark(watermark) }
    func advanceProcessingTime(to millis: Int64) throws {
        clock.set(millis: millis)
        try op.fireProcessingTimers(now: millis)
    }

    /// Takes a snapshot, then replaces the operator with a fresh one restored from it (as after a
    /// failure), keeping the recorded outputs.
    func snapshotAndRestore() throws {
        let snapshot = try op.snapshotState(checkpointId: 1)
        op.close(failed: true)
        op = try Self.instantiate(factory, clock: clock, sides: sides, metrics: metrics, output: output, keyedState: snapshot.keyedState)
    }
}
