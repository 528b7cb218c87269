import Foundation
import Testing
@testable import SluiceRuntime

/// Per-record cost of the window operators, driven directly on one thread (no channels): the
/// tumbling fast path against the general operator. Measurements, not assertions: run only with
/// SLUICE_BENCH=1 (in release for meaningful numbers).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_BENCH"] != nil), .serialized)
struct WindowBenchmarks {
    let records = 1_000_000
    let keys = 10_000

    func run(_ name: String, _ declare: (DataStream<Click>) -> DataStream<WindowResult<String, Int>>) throws {
        let pages = (0..<keys).map { "page-\($0)" }
        let h = try OperatorHarness<Click, WindowResult<String, Int>>(declare)
        let start = DispatchTime.now().uptimeNanoseconds
        for i in 0..<records {
            let ts = Int64(i / 10)  // 100 records per millisecond of event time
            try h.element(Click(page: pages[i % keys], ts: ts), ts)
            if i % 1000 == 999 {
                try h.watermark(ts - 1)
                h.output.emitted.removeAll(keepingCapacity: true)
            }
        }
        try h.watermark(Watermark.max)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(String(format: "BENCH window %@: %d records in %.3f s = %.0f records/s", name, records, seconds, Double(records) / seconds))
    }

    @Test func windowOperators() throws {
        try run("tumbling 10 s, fast path") { $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 10_000)).count() }
        try run("tumbling 10 s, general operator") {
            $0.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 10_000)).allowedLateness(1).count()
        }
        try run("sliding 10 s / 5 s") { $0.keyBy { $0.page }.window(SlidingEventTimeWindows(sizeMillis: 10_000, slideMillis: 5_000)).count() }
        try run("sessions, gap 5 s") { $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 5_000)).count() }
    }
}
