import Foundation
import Testing
@testable import SluiceRuntime

/// A click: page and event time.
struct Click: Sendable, Hashable, Codable, BinaryCodable {
    let page: String
    let ts: Int64
    func encode(to writer: inout BinaryWriter) {
        writer.writeString(page)
        writer.writeInt64(ts)
    }
    init(page: String, ts: Int64) {
        self.page = page
        self.ts = ts
    }
    init(from reader: inout BinaryReader) throws {
        page = try reader.readString()
        ts = try reader.readInt64()
    }
}

/// Average of the timestamps in a window, with a (sum, count) accumulator.
struct AverageTimestamp: AggregateFunction {
    func createAccumulator() -> [Int64] { [0, 0] }
    func add(_ value: Click, to accumulator: inout [Int64]) {
        accumulator[0] += value.ts
        accumulator[1] += 1
    }
    func result(_ accumulator: [Int64]) -> Int64 { accumulator[1] == 0 ? 0 : accumulator[0] / accumulator[1] }
}

@Suite struct WatermarkTests {
    @Test func perSplitWatermarkIsMinimumOverActiveSplits() {
        let mux = SplitWatermarkMultiplexer(outOfOrdernessMillis: 100, idleTimeoutMillis: 1000, now: 0)
        mux.registerSplit("p0", now: 0)
        mux.registerSplit("p1", now: 0)
        mux.onRecord(split: "p0", timestamp: 5000, now: 10)
        // p1 has no record yet: it holds the watermark back.
        #expect(mux.poll(now: 10) == [])
        mux.onRecord(split: "p1", timestamp: 1000, now: 20)
        #expect(mux.poll(now: 20) == [.watermark(899)])
        #expect(mux.watermark(ofSplit: "p0") == 4899)
        // p1 goes idle: p0 alone decides.
        mux.onRecord(split: "p0", timestamp: 6000, now: 1010)
        #expect(mux.poll(now: 1020) == [.watermark(5899)])
        // Both idle: the subtask is idle; a record makes it active again.
        #expect(mux.poll(now: 5000) == [.idle])
        mux.onRecord(split: "p1", timestamp: 7000, now: 5001)
        #expect(mux.poll(now: 5001) == [.active, .watermark(6899)])
    }

    @Test func subtaskWithoutSplitsGoesIdleAfterTimeout() {
        let mux = SplitWatermarkMultiplexer(outOfOrdernessMillis: 0, idleTimeoutMillis: 50, now: 0)
        #expect(mux.poll(now: 49) == [])
        #expect(mux.poll(now: 50) == [.idle])
    }
}

/// Registers event-time timers in scrambled order and reports them as they fire.
final class TimerRecorder: KeyedProcessFunction {
    typealias Key = String
    typealias Input = Click
    typealias Output = String
    init() {}
    func processElement(_ value: Click, context: KeyedContext<String>, out: Collector<String>) throws {
        context.timerService.registerEventTimeTimer(value.ts + 1000)
        context.timerService.registerEventTimeTimer(value.ts + 1000)  // deduplicated
    }
    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        // Checked by the test: the domain, and that the watermark has passed the timer.
        let passed = timestamp <= context.timerService.currentWatermark
        try out.collect("\(context.currentKey)@\(timestamp)@\(context.timeDomain == .eventTime)@\(passed)")
    }
}

/// Fires a processing-time timer 100 ms after each key's first record.
final class ProcessingTimer: KeyedProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias Output = String
    private var armed: ValueState<Bool>?
    /// Keys whose timer is registered, so a test can move the clock only after that.
    private let armedKeys: CollectedValues<String>?
    init(armedKeys: CollectedValues<String>? = nil) { self.armedKeys = armedKeys }
    func open(_ context: KeyedContext<String>) throws { armed = try context.state(ValueStateDescriptor<Bool>("armed")) }
    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {
        guard armed?.value() == nil else { return }
        armed?.update(true)
        context.timerService.registerProcessingTimeTimer(context.timerService.currentProcessingTime + 100)
        armedKeys?.append(contentsOf: [value])
    }
    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        try out.collect("\(context.currentKey)@\(timestamp)")
    }
}

@Suite struct EventTimeTests {
    let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(100).withTimestampAssigner { click, _ in click.ts }

    @Test func eventTimeTimersFireInTimestampOrder() throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let out = CollectedValues<String>()
        let clicks = [700, 100, 400, 100, 900, 300].enumerated().map { Click(page: "p\($0.offset % 3)", ts: Int64($0.element)) }
        env.fromCollection(clicks, watermarkStrategy: strategy)
            .keyBy { $0.page }
            .process(TimerRecorder())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        let parts = out.values.map { $0.split(separator: "@") }
        #expect(parts.allSatisfy { $0[2] == "true" && $0[3] == "true" })
        let fired = parts.compactMap { Int64($0[1]) }
        #expect(fired.count == 6)  // (p1, 100) and (p0, 100) are distinct keys; duplicates per key are merged
        #expect(fired == fired.sorted())
    }

    func windowed(_ clicks: [Click], metrics: TestMetrics? = nil) throws -> (CollectedValues<WindowResult<String, Int>>, CollectedValues<WindowResult<String, Click>>, CollectedValues<WindowResult<String, Int64>>) {
        var configuration = testConfiguration(parallelism: 2)
        configuration.metricsFactory = metrics
        let env = StreamExecutionEnvironment(configuration)
        let counts = CollectedValues<WindowResult<String, Int>>()
        let reduced = CollectedValues<WindowResult<String, Click>>()
        let averaged = CollectedValues<WindowResult<String, Int64>>()
        // One record per poll: a watermark follows every record, so lateness is deterministic.
        let source = env.fromSource(CollectionSource(clicks, recordsPerPoll: 1), name: "clicks", parallelism: 1, watermarkStrategy: strategy)
        let windows = source.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 1000))
        windows.count().sinkTo(CollectingSink(into: counts), name: "counts")
        windows.reduce { a, b in Click(page: a.page, ts: max(a.ts, b.ts)) }.sinkTo(CollectingSink(into: reduced), name: "max")
        windows.aggregate(AverageTimestamp()).sinkTo(CollectingSink(into: averaged), name: "avg")
        try env.execute()
        return (counts, reduced, averaged)
    }

    @Test func tumblingWindowsCountReduceAggregateOutOfOrderWithinBound() throws {
        // Out of order by at most 100 ms (the bound): nothing is late.
        let ts: [Int64] = [100, 50, 990, 1050, 950, 1500, 1420, 2600, 2550, 3999]
        let clicks = ts.flatMap { [Click(page: "/a", ts: $0), Click(page: "/b", ts: $0 + 1)] }
        let metrics = TestMetrics()
        let (counts, reduced, averaged) = try windowed(clicks, metrics: metrics)
        func expected(_ page: String, _ offset: Int64) -> [Int64: [Int64]] {
            Dictionary(grouping: ts.map { $0 + offset }, by: { $0 / 1000 * 1000 })
        }
        var expectedCounts: Set<WindowResult<String, Int>> = []
        var expectedMax: Set<WindowResult<String, Click>> = []
        var expectedAvg: Set<WindowResult<String, Int64>> = []
        for (page, offset) in [("/a", Int64(0)), ("/b", 1)] {
            for (start, members) in expected(page, offset) {
                let window = TimeWindow(start: start, end: start + 1000)
                expectedCounts.insert(WindowResult(key: page, window: window, value: members.count))
                expectedMax.insert(WindowResult(key: page, window: window, value: Click(page: page, ts: members.max() ?? 0)))
                expectedAvg.insert(WindowResult(key: page, window: window, value: members.reduce(0, +) / Int64(members.count)))
            }
        }
        #expect(counts.values.count == expectedCounts.count)
        #expect(Set(counts.values) == expectedCounts)
        #expect(Set(reduced.values) == expectedMax)
        #expect(Set(averaged.values) == expectedAvg)
        #expect(metrics.total("sluice_late_records_dropped_total") == 0)
    }

    @Test func recordsLaterThanTheWatermarkAreDroppedAndCounted() throws {
        // 1200 moves the watermark to 1099: window [0, 1000) fires; 900 then is late.
        let clicks = [100, 500, 950, 1200, 900, 1500, 2600].map { Click(page: "/a", ts: Int64($0)) }
        let metrics = TestMetrics()
        let (counts, _, _) = try windowed(clicks, metrics: metrics)
        let byStart = Dictionary(uniqueKeysWithValues: counts.values.map { ($0.window.start, $0.value) })
        #expect(byStart == [0: 3, 1000: 2, 2000: 1])
        #expect(metrics.total("sluice_late_records_dropped_total") == 3)  // once per window operator
    }

    @Test func idleSplitDoesNotHoldBackWindows() throws {
        // Split "q" gets one record at clock time 0, then nothing. The clock jumps 2 s while "p"
        // keeps producing: "q" becomes idle and p's watermark alone fires the windows, while the
        // (endless) job still runs. Without idleness q@0 would hold the watermark at -101.
        let clock = ManualClock()
        var clicks = [Click(page: "q", ts: 0)]
        clicks += (0..<50).map { Click(page: "p", ts: Int64($0) * 100) }
        let env = StreamExecutionEnvironment(testConfiguration(clock: clock))
        let out = CollectedValues<WindowResult<String, Int>>()
        let source = CollectionSource(clicks, recordsPerPoll: 1, endless: true, split: { $0.page }, onEmit: { index in
            if index == 1 { clock.advance(byMillis: 2000) }
        })
        env.fromSource(source, name: "clicks", watermarkStrategy: strategy.withIdleness(1000))
            .keyBy { $0.page }
            .window(TumblingEventTimeWindows(sizeMillis: 1000))
            .count()
            .sinkTo(CollectingSink(into: out))
        let control = env.control
        Thread {
            _ = eventually { out.count >= 5 }
            control.cancel()
        }.start()
        try env.execute()
        // p's watermark reached 4900 - 100 - 1 = 4799: windows up to [3000, 4000) fired, for q too.
        let expected: Set<WindowResult<String, Int>> = Set((0..<4).map {
            WindowResult(key: "p", window: TimeWindow(start: Int64($0) * 1000, end: Int64($0 + 1) * 1000), value: 10)
        } + [WindowResult(key: "q", window: TimeWindow(start: 0, end: 1000), value: 1)])
        #expect(Set(out.values) == expected)
    }

    @Test func processingTimeTimersFollowTheInjectedClock() throws {
        let clock = ManualClock(startMillis: 1_000)
        let env = StreamExecutionEnvironment(testConfiguration(clock: clock))
        let out = CollectedValues<String>()
        let armed = CollectedValues<String>()
        env.fromSource(CollectionSource(["a", "b", "a"], endless: true), name: "words")
            .keyBy { $0 }
            .process(ProcessingTimer(armedKeys: armed))
            .sinkTo(CollectingSink(into: out))
        let control = env.control
        let early = CollectedValues<Int>()
        Thread {
            // Both timers are registered at 1000 + 100 before the clock moves, however slow the machine.
            _ = eventually { armed.count == 2 }
            usleep(50_000)
            early.append(contentsOf: [out.count])
            clock.advance(byMillis: 100)
            _ = eventually { out.count == 2 }
            control.cancel()
        }.start()
        let result = try env.execute()
        #expect(result.status == .cancelled)
        #expect(early.values == [0])  // nothing fired before the clock moved
        #expect(Set(out.values) == ["a@1100", "b@1100"])
    }

    @Test func processingTimeWindowsFireWhenTheClockPassesTheirEnd() throws {
        let clock = ManualClock(startMillis: 0)
        let env = StreamExecutionEnvironment(testConfiguration(clock: clock))
        let out = CollectedValues<WindowResult<String, Int>>()
        env.fromSource(CollectionSource(["x", "y", "x"], endless: true), name: "words")
            .keyBy { $0 }
            .window(TumblingProcessingTimeWindows(sizeMillis: 1000))
            .count()
            .sinkTo(CollectingSink(into: out))
        let control = env.control
        Thread {
            usleep(100_000)
            clock.advance(byMillis: 1000)
            _ = eventually { out.count == 2 }
            control.cancel()
        }.start()
        try env.execute()
        #expect(Set(out.values) == [
            WindowResult(key: "x", window: TimeWindow(start: 0, end: 1000), value: 2),
            WindowResult(key: "y", window: TimeWindow(start: 0, end: 1000), value: 1),
        ])
    }
}
