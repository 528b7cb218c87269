import Foundation
import Testing
@testable import SluiceRuntime

/// Clicks with an odd timestamp go to the side output `odd`, the others to the main output; every
/// tenth click also leaves a note on the side output `notes`.
final class OddSplitter: KeyedProcessFunction {
    typealias Key = String
    typealias Input = Click
    typealias Output = String
    static let odd = OutputTag<Click>("odd")
    static let notes = OutputTag<String>("notes")
    init() {}
    func processElement(_ value: Click, context: KeyedContext<String>, out: Collector<String>) throws {
        if value.ts % 2 == 1 {
            try context.output(Self.odd, value)
        } else {
            try out.collect("\(value.page):\(value.ts)")
        }
        if value.ts % 10 == 0 { try context.output(Self.notes, "note \(value.ts)") }
    }
}

/// Main and side outputs with other parallelisms, a keyBy and an event-time window on a side
/// output, each to its own exactly-once sink.
struct SideOutputJob {
    let clicks = (0..<300).map { Click(page: "p\($0 % 5)", ts: Int64($0)) }
    let main = InMemoryTransactionalStore<String>()
    let oddCounts = InMemoryTransactionalStore<String>()
    let notes = InMemoryTransactionalStore<String>()
    let directory = temporaryDirectory("side-outputs")

    @discardableResult
    func run(faults: FaultInjector = .disabled, restart: RestartStrategy = .none) throws -> JobResult {
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(directory: directory), restart: restart, faults: faults, parallelism: 2))
        let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { click, _ in click.ts }
        let split = env.fromSource(CollectionSource(clicks, recordsPerPoll: 10, checkpointEvery: 50), name: "clicks", parallelism: 1, watermarkStrategy: strategy)
            .keyBy { $0.page }
            .process(name: "split", OddSplitter())
        split.sinkTo(TransactionalCollectingSink(store: main, name: "main"), name: "main")
        split.sideOutput(OddSplitter.odd)
            .keyBy { $0.page }
            .window(TumblingEventTimeWindows(sizeMillis: 100))
            .count(name: "odd-counts").setParallelism(3)
            .map(name: "format") { "\($0.key) \($0.window.start) \($0.value)" }.setParallelism(3)
            .sinkTo(TransactionalCollectingSink(store: oddCounts, name: "odd"), name: "odd", parallelism: 3)
        split.sideOutput(OddSplitter.notes)
            .map(name: "upper") { $0.uppercased() }  // parallelism 2: a forward side edge, still its own task
            .sinkTo(TransactionalCollectingSink(store: notes, name: "notes"), name: "notes", parallelism: 1)
        return try env.execute()
    }

    var expectedMain: [String] { clicks.filter { $0.ts % 2 == 0 }.map { "\($0.page):\($0.ts)" }.sorted() }
    var expectedOddCounts: [String] {
        Dictionary(grouping: clicks.filter { $0.ts % 2 == 1 }, by: { "\($0.page) \($0.ts / 100 * 100)" })
            .map { "\($0.key) \($0.value.count)" }.sorted()
    }
    var expectedNotes: [String] { clicks.filter { $0.ts % 10 == 0 }.map { "NOTE \($0.ts)" }.sorted() }

    func check() {
        #expect(main.committedValues.sorted() == expectedMain)
        #expect(oddCounts.committedValues.sorted() == expectedOddCounts)
        #expect(notes.committedValues.sorted() == expectedNotes)
        #expect(main.unfinishedTransactions.isEmpty && oddCounts.unfinishedTransactions.isEmpty && notes.unfinishedTransactions.isEmpty)
    }
}

@Suite struct SideOutputTests {
    @Test func sideOutputsFlowToOtherTasksWithWatermarksAndBarriers() throws {
        let job = SideOutputJob()
        let result = try job.run()
        #expect(result.status == .finished)
        #expect((result.lastCompletedCheckpoint ?? 0) >= 6)  // 300 records, a checkpoint every 50
        job.check()
    }

    @Test func sideOutputsAreExactlyOnceAcrossARestart() throws {
        let job = SideOutputJob()
        let faults = FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 3)
        let result = try job.run(faults: faults, restart: .fixedDelay(attempts: 2, delay: .zero))
        #expect(faults.hasFired)
        #expect(result.restarts == 1)
        job.check()
    }

    @Test func oneTagReadWithTwoTypesIsRefused() throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let split = env.fromCollection([Click(page: "a", ts: 1)]).keyBy { $0.page }.process(OddSplitter())
        split.sideOutput(OutputTag<Click>("odd")).sinkTo(CollectingSink(into: CollectedValues<Click>()))
        split.sideOutput(OutputTag<String>("odd")).sinkTo(CollectingSink(into: CollectedValues<String>()))
        #expect(throws: RuntimeConfigurationError.self) { try env.execute() }
    }

    @Test func settingsOnASideOutputItselfAreRefused() throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let split = env.fromCollection([Click(page: "a", ts: 1)]).keyBy { $0.page }.process(OddSplitter())
        split.sideOutput(OddSplitter.odd).setParallelism(3).sinkTo(CollectingSink(into: CollectedValues<Click>()))
        #expect(throws: RuntimeConfigurationError.self) { try env.execute() }

        let other = StreamExecutionEnvironment(testConfiguration())
        let odd = other.fromCollection([Click(page: "a", ts: 1)]).keyBy { $0.page }.process(OddSplitter()).sideOutput(OddSplitter.odd)
        odd.sideOutput(OddSplitter.notes).sinkTo(CollectingSink(into: CollectedValues<String>()))
        #expect(throws: RuntimeConfigurationError.self) { try other.execute() }
    }

    @Test func lateWindowDataGoesToItsSideOutputInAJob() throws {
        // One record per poll and no out-of-orderness: the watermark follows each record.
        let clicks = [1, 5, 12, 3, 14, 2, 30].map { Click(page: "a", ts: Int64($0)) }
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { click, _ in click.ts }
        let lateTag = OutputTag<Click>("late")
        let counts = CollectedValues<WindowResult<String, Int>>()
        let late = CollectedValues<Int64>()
        let windowed = env.fromSource(CollectionSource(clicks, recordsPerPoll: 1), name: "clicks", parallelism: 1, watermarkStrategy: strategy)
            .keyBy { $0.page }
            .window(TumblingEventTimeWindows(sizeMillis: 10))
            .allowedLateness(3)
            .sideOutputLateData(lateTag)
            .count()
        windowed.sinkTo(CollectingSink(into: counts), name: "counts", parallelism: 1)
        windowed.sideOutput(lateTag).map { $0.ts }.sinkTo(CollectingSink(into: late), name: "late", parallelism: 1)
        try env.execute()
        // 12 -> watermark 11: [0, 10) fires (2); 3 is within lateness (cleanup at 12): fires again
        // (3); 14 -> watermark 13: [0, 10) is cleaned up, so 2 is late; 30 fires [10, 20) (2).
        #expect(counts.values == [
            WindowResult(key: "a", window: TimeWindow(start: 0, end: 10), value: 2),
            WindowResult(key: "a", window: TimeWindow(start: 0, end: 10), value: 3),
            WindowResult(key: "a", window: TimeWindow(start: 10, end: 20), value: 2),
            WindowResult(key: "a", window: TimeWindow(start: 30, end: 40), value: 1),
        ])
        #expect(late.values == [2])
    }
}

/// Records the watermarks and idle status a side-output writer gets.
final class WatermarkLog: WatermarkTarget {
    var events: [String] = []
    func emitWatermark(_ watermark: Int64) throws { events.append("wm \(watermark)") }
    func emitIdleStatus(_ idle: Bool) throws { events.append("idle \(idle)") }
}

@Suite struct SideOutputUnitTests {
    @Test func processWindowFunctionEmitsToASideOutput() throws {
        let notes = OutputTag<String>("notes")
        let h = try OperatorHarness<Click, Int> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 10)).process(ProcessWindowClosure<String, Click, Int> { key, context, elements, out in
                try out.collect(elements.count)
                try context.output(notes, "\(key) \(context.window)")
            })
        }
        try h.element(Click(page: "a", ts: 3), 3)
        try h.element(Click(page: "a", ts: 4), 4)
        try h.watermark(20)
        #expect(h.output.emitted == [.record(2, timestamp: 9), .watermark(20)])
        #expect(h.notes.emitted == [.record("a [0, 10)", timestamp: 9)])
    }

    @Test func operatorsWithSideOutputsSendWatermarksAndIdlenessDownThem() throws {
        let log = WatermarkLog()
        let main = CapturingOutput<String>()
        let factory = TypedNodeFactory<String, String> { setup, output in
            MapOperator(setup: setup, output: output, function: { $0 })
        }
        let env = StreamExecutionEnvironment(testConfiguration())
        let setup = OperatorSetup(
            operatorID: "map", subtaskIndex: 0, parallelism: 1, maxParallelism: 128, logger: env.configuration.logger,
            metrics: RuntimeMetrics(factory: TestMetrics(), jobName: "test"), restore: nil, clock: ManualClock(),
            faultInjector: .disabled, services: TaskServices(requestCheckpoint: {}, firstCheckpointId: 1),
            sideOutputs: SideOutputs(outputs: [:], watermarkTargets: [log]))
        let link = try factory.instantiate(setup: setup, downstream: main, counter: RecordCounter())
        let op = try #require(link.op as? MapOperator<String, String>)
        try op.processElement("x", timestamp: 1)
        try op.processWatermark(5)
        try op.processIdleStatus(true)
        #expect(main.emitted == [.record("x", timestamp: 1), .watermark(5)])
        #expect(log.events == ["wm 5", "idle true"])
    }
}
