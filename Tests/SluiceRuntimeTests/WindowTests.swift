import Foundation
import Testing
@testable import SluiceRuntime

private func click(_ page: String, _ ts: Int64) -> Click { Click(page: page, ts: ts) }
private func window(_ start: Int64, _ end: Int64) -> TimeWindow { TimeWindow(start: start, end: end) }
private func result(_ key: String, _ w: TimeWindow, _ value: Int) -> Emitted<WindowResult<String, Int>> {
    .record(WindowResult(key: key, window: w, value: value), timestamp: w.maxTimestamp)
}

/// State left in a general window operator (contents, merging sets, trigger values, timers).
private func stateEntries<In, Out>(_ harness: OperatorHarness<In, Out>) -> Int? {
    (harness.op as? any WindowStateInspectable)?.stateEntryCount
}

protocol WindowStateInspectable { var stateEntryCount: Int { get } }
extension GeneralWindowOperator: WindowStateInspectable {}

/// Lists the sorted timestamps of a window's records.
private let listing = ProcessWindowClosure<String, Click, String> { key, context, elements, out in
    try out.collect("\(key) \(context.window) \(elements.map(\.ts).sorted())")
}

/// Fires early on a record whose timestamp ends in 42, and fires-and-purges at the window's end.
struct EarlyOn42Trigger: Trigger {
    typealias Element = Click
    func onElement(_ element: Click, timestamp: Int64?, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        context.registerEventTimeTimer(window.maxTimestamp)
        context.setValue("seen", (context.value("seen") ?? 0) + 1)
        return element.ts % 100 == 42 ? .fire : .continue
    }
    func onEventTime(_ time: Int64, window: TimeWindow, context: TriggerContext) -> TriggerResult {
        time == window.maxTimestamp ? .fireAndPurge : .continue
    }
    func clear(window: TimeWindow, context: TriggerContext) {
        context.deleteEventTimeTimer(window.maxTimestamp)
        context.setValue("seen", nil)
    }
}

@Suite struct WindowOperatorTests {
    @Test func lateRecordsWithinLatenessRefireAndLaterOnesGoToTheSideOutput() throws {
        let lateTag = OutputTag<Click>("late")
        let h = try OperatorHarness<Click, WindowResult<String, Int>>(lateTag: lateTag.id) {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 10)).allowedLateness(5).sideOutputLateData(lateTag).count()
        }
        try h.element(click("a", 1), 1)
        try h.element(click("a", 5), 5)
        try h.element(click("b", 6), 6)
        try h.watermark(9)                   // [0, 10) fires for a and b
        try h.element(click("a", 3), 3)      // late, within lateness: fires again with the update
        try h.watermark(14)                  // end + lateness: state of [0, 10) is dropped
        #expect(stateEntries(h) == 0)
        try h.element(click("a", 7), 7)      // later than lateness: side output, counted
        try h.element(click("a", 12), 12)
        try h.watermark(19)
        #expect(h.output.emitted == [
            result("a", window(0, 10), 2), result("b", window(0, 10), 1), .watermark(9),
            result("a", window(0, 10), 3), .watermark(14),
            result("a", window(10, 20), 1), .watermark(19),
        ])
        #expect(h.late.emitted == [.record(click("a", 7), timestamp: 7)])
        #expect(h.metrics.total("sluice_late_records_dropped_total") == 0)  // published by the task
        h.op.publishMetrics()
        #expect(h.metrics.total("sluice_late_records_dropped_total") == 1)
        #expect(stateEntries(h) ?? 0 > 0)    // [10, 20) is kept until 19 + 5
        try h.watermark(24)
        #expect(stateEntries(h) == 0)
    }

    @Test func aLateRecordBridgesTwoSessionsIntoOne() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).allowedLateness(5).count()
        }
        try h.element(click("a", 0), 0)      // session [0, 10)
        try h.element(click("a", 15), 15)    // session [15, 25)
        try h.watermark(12)                  // [0, 10) fires; kept until 14 (lateness)
        try h.element(click("a", 7), 7)      // behind the watermark: [7, 17) bridges both sessions
        try h.watermark(30)
        #expect(h.output.emitted == [
            result("a", window(0, 10), 1), .watermark(12),
            result("a", window(0, 25), 3), .watermark(30),
        ])
        #expect(stateEntries(h) == 0)
    }

    @Test func processWindowFunctionGetsAllRecordsOfMergedSessions() throws {
        let h = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).process(listing)
        }
        for (page, ts) in [("a", 0), ("b", 2), ("a", 15), ("a", 7), ("b", 40)] { try h.element(click(page, Int64(ts)), Int64(ts)) }
        try h.watermark(Watermark.max)
        #expect(h.output.records == ["b [2, 12) [2]", "a [0, 25) [0, 7, 15]", "b [40, 50) [40]"])
    }

    @Test func slidingWindowsCountEveryWindowOfARecordInTimeOrder() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(SlidingEventTimeWindows(sizeMillis: 10, slideMillis: 5)).count()
        }
        for (page, ts) in [("a", 1), ("a", 6), ("a", 11), ("b", 3)] { try h.element(click(page, Int64(ts)), Int64(ts)) }
        try h.watermark(Watermark.max)
        #expect(h.output.emitted == [
            result("a", window(-5, 5), 1), result("b", window(-5, 5), 1),
            result("a", window(0, 10), 2), result("b", window(0, 10), 1),
            result("a", window(5, 15), 2), result("a", window(10, 20), 1),
            .watermark(Watermark.max),
        ])
    }

    @Test func countWindowWithPurgingFiresEveryNRecords() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Click>> {
            $0.keyBy { $0.page }.countWindow(3).reduce { Click(page: $0.page, ts: $0.ts + $1.ts) }
        }
        for ts in 1...7 { try h.element(click("a", Int64(ts)), nil) }
        try h.element(click("b", 100), nil)
        try h.watermark(Watermark.max)       // global windows never fire by time
        #expect(h.output.emitted == [
            .record(WindowResult(key: "a", window: .global, value: click("a", 6)), timestamp: Int64.max),
            .record(WindowResult(key: "a", window: .global, value: click("a", 15)), timestamp: Int64.max),
            .watermark(Watermark.max),
        ])
    }

    @Test func slidingCountWindowKeepsTheLastRecords() throws {
        let h = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.countWindow(3, slide: 2).process(listing)
        }
        for ts in 1...5 { try h.element(click("a", Int64(ts)), nil) }
        #expect(h.output.records == ["a global [1, 2]", "a global [2, 3, 4]"])
    }

    @Test func customTriggerFiresEarlyAndPurgesAtTheEnd() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 1000)).trigger(EarlyOn42Trigger()).count()
        }
        try h.element(click("a", 1), 1)
        try h.element(click("a", 42), 42)    // early firing, contents kept
        try h.element(click("a", 500), 500)
        try h.watermark(999)                 // fire and purge
        try h.element(click("a", 1001), 1001)
        try h.watermark(1999)
        #expect(h.output.emitted == [
            result("a", window(0, 1000), 2), result("a", window(0, 1000), 3), .watermark(999),
            result("a", window(1000, 2000), 1), .watermark(1999),
        ])
        #expect(stateEntries(h) == 0)
    }

    @Test func countAndTimeEvictorsDropRecordsBeforeTheFunction() throws {
        let counted = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 100)).evictor(CountEvictor(2)).process(listing)
        }
        let timed = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 100)).evictor(TimeEvictor(windowMillis: 10)).process(listing)
        }
        let evictedCount = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 100)).evictor(CountEvictor(2)).count()
        }
        for ts: Int64 in [10, 28, 30, 20] {
            try counted.element(click("a", ts), ts)
            try timed.element(click("a", ts), ts)
            try evictedCount.element(click("a", ts), ts)
        }
        try counted.watermark(99)
        try timed.watermark(99)
        try evictedCount.watermark(99)
        #expect(counted.output.records == ["a [0, 100) [20, 30]"])      // the last two that arrived: 30, 20
        #expect(timed.output.records == ["a [0, 100) [28, 30]"])        // newest 30: drops <= 20
        #expect(evictedCount.output.records == [WindowResult(key: "a", window: window(0, 100), value: 2)])
    }

    @Test func processingTimeSessionTimersFireInTimeOrder() throws {
        let h = try OperatorHarness<String, WindowResult<String, Int>> {
            $0.keyBy { $0 }.window(ProcessingTimeSessionWindows(gapMillis: 10)).count()
        }
        try h.advanceProcessingTime(to: 0)
        try h.element("a", nil)
        try h.advanceProcessingTime(to: 3)
        try h.element("b", nil)
        try h.advanceProcessingTime(to: 5)
        try h.element("a", nil)              // [5, 15) merges with [0, 10)
        try h.advanceProcessingTime(to: 12)  // b's [3, 13) is due at 12
        try h.advanceProcessingTime(to: 100)
        #expect(h.output.emitted == [result("b", window(3, 13), 1), result("a", window(0, 15), 2)])
        #expect(stateEntries(h) == 0)
    }

    @Test func slidingProcessingTimeWindows() throws {
        let h = try OperatorHarness<String, WindowResult<String, Int>> {
            $0.keyBy { $0 }.window(SlidingProcessingTimeWindows(sizeMillis: 10, slideMillis: 5)).count()
        }
        try h.advanceProcessingTime(to: 7)
        try h.element("a", nil)
        try h.advanceProcessingTime(to: 9)
        #expect(h.output.takeRecords() == [WindowResult(key: "a", window: window(0, 10), value: 1)])
        try h.advanceProcessingTime(to: 14)
        #expect(h.output.takeRecords() == [WindowResult(key: "a", window: window(5, 15), value: 1)])
    }

    @Test func openSessionsSurviveCheckpointAndRestore() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).count()
        }
        try h.element(click("a", 0), 0)
        try h.element(click("a", 15), 15)
        try h.element(click("b", 3), 3)
        try h.watermark(5)
        try h.snapshotAndRestore()
        try h.element(click("a", 8), 8)      // merges the restored sessions [0, 10) and [15, 25)
        try h.watermark(40)
        #expect(h.output.emitted == [
            .watermark(5), result("b", window(3, 13), 1), result("a", window(0, 25), 3), .watermark(40),
        ])
        #expect(stateEntries(h) == 0)
    }

    @Test func triggerStateOfMergingSessionsSurvivesRestore() throws {
        // A count trigger on sessions: counts of merged sessions are added up, across a restore.
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).trigger(CountTrigger(3)).count()
        }
        try h.element(click("a", 0), 0)
        try h.element(click("a", 15), 15)
        try h.snapshotAndRestore()
        try h.element(click("a", 8), 8)
        #expect(h.output.emitted == [result("a", window(0, 25), 3)])
    }
}

/// Sum of timestamps, mergeable (for sessions).
struct SumOfTimestamps: MergeableAggregateFunction {
    func createAccumulator() -> Int64 { 0 }
    func add(_ value: Click, to accumulator: inout Int64) { accumulator += value.ts }
    func result(_ accumulator: Int64) -> Int64 { accumulator }
    func merge(_ a: Int64, _ b: Int64) -> Int64 { a + b }
}

/// A process window function with per-subtask mutable state: numbers the windows it fires.
final class NumberedWindows: ProcessWindowFunction {
    typealias Key = String
    typealias Input = Click
    typealias Output = String
    private var fired = 0
    init() {}
    func process(key: String, context: ProcessWindowContext, elements: [Click], out: Collector<String>) throws {
        fired += 1
        try out.collect("#\(fired) \(key) \(context.window) \(elements.count)")
    }
}

@Suite struct WindowFunctionTests {
    @Test func processWindowFunctionClassKeepsItsOwnState() throws {
        let h = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 10)).process(NumberedWindows())
        }
        for (page, ts) in [("a", 1), ("b", 2), ("a", 3), ("a", 15)] { try h.element(click(page, Int64(ts)), Int64(ts)) }
        try h.watermark(Watermark.max)
        #expect(h.output.records == ["#1 a [0, 10) 2", "#2 b [0, 10) 1", "#3 a [10, 20) 1"])
    }

    @Test func aggregateWithProcessWindowFunctionSeesTheResultAndTheWindow() throws {
        let describe = ProcessWindowClosure<String, Int64, String> { key, context, results, out in
            try out.collect("\(key) \(context.window) \(results) wm=\(context.currentWatermark)")
        }
        let h = try OperatorHarness<Click, String> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).aggregate(SumOfTimestamps(), process: describe)
        }
        for ts: Int64 in [1, 30, 5, 33] { try h.element(click("a", ts), ts) }
        try h.watermark(100)
        #expect(h.output.records == ["a [1, 15) [6] wm=100", "a [30, 43) [63] wm=100"])
    }

    @Test func mergeableAggregateOnSessionsAndUnmergeableIsRefused() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int64>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).aggregate(SumOfTimestamps())
        }
        for ts: Int64 in [1, 12, 6] { try h.element(click("a", ts), ts) }
        try h.watermark(100)
        #expect(h.output.records == [WindowResult(key: "a", window: window(1, 22), value: 19)])
        #expect(throws: WindowError.self) {
            _ = try OperatorHarness<Click, WindowResult<String, Int64>> {
                $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).aggregate(AverageTimestamp())
            }
        }
    }

    @Test func eventTimeWindowsRefuseRecordsWithoutTimestamp() throws {
        let h = try OperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(SlidingEventTimeWindows(sizeMillis: 10, slideMillis: 5)).count()
        }
        #expect(throws: WindowError.self) { try h.element(click("a", 1), nil) }
    }
}

/// Session windows in a running job with checkpoints: a crash and restart, and a restore with
/// another parallelism, give exactly the sessions of an undisturbed run.
struct SessionJob {
    /// Per page, bursts of 20 clicks 10 ms apart, then 200 ms of silence: sessions of 20.
    let clicks: [Click] = (0..<200).filter { ($0 / 20) % 2 == 0 }.flatMap { i in
        (0..<3).map { page in Click(page: "p\(page)", ts: Int64(i * 10 + page)) }
    }
    let store = InMemoryTransactionalStore<String>()
    let directory = temporaryDirectory("sessions")

    @discardableResult
    func run(parallelism: Int, faults: FaultInjector = .disabled, restart: RestartStrategy = .none) throws -> JobResult {
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(directory: directory), restart: restart, faults: faults, parallelism: parallelism))
        let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { click, _ in click.ts }
        env.fromSource(CollectionSource(clicks, recordsPerPoll: 5, checkpointEvery: 40), name: "clicks", parallelism: 1, watermarkStrategy: strategy)
            .keyBy { $0.page }
            .window(EventTimeSessionWindows(gapMillis: 50))
            .count(name: "sessions")
            .map(name: "format") { "\($0.key) \($0.window) \($0.value)" }
            .sinkTo(TransactionalCollectingSink(store: store, name: "sessions"), name: "sink")
        return try env.execute()
    }

    var expected: [String] {
        (0..<3).flatMap { page in
            stride(from: 0, to: 200, by: 40).map { first in
                "p\(page) [\(first * 10 + page), \((first + 19) * 10 + page + 50)) 20"
            }
        }.sorted()
    }
}

@Suite struct SessionJobTests {
    @Test func sessionsAreExactlyOnceAcrossARestart() throws {
        let job = SessionJob()
        let faults = FaultInjector(point: .afterSnapshot, checkpointId: 4)
        let result = try job.run(parallelism: 2, faults: faults, restart: .fixedDelay(attempts: 2, delay: .zero))
        #expect(faults.hasFired)
        #expect(result.restarts == 1)
        #expect(job.store.committedValues.sorted() == job.expected)
    }

    @Test func openSessionsMoveToAnotherParallelism() throws {
        let job = SessionJob()
        #expect(throws: JobFailedError.self) {
            try job.run(parallelism: 2, faults: FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 5))
        }
        let result = try job.run(parallelism: 3)
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }
}
