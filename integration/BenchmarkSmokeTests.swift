import Foundation
import SluiceTestKit
import Testing

/// Keeps the benchmark command working: runs `sluice-bench run --quick` on tiny input against its
/// own embedded broker. Checks that it succeeds and prints figures; never checks speed.
@Suite struct BenchmarkSmokeTests {
    @Test func benchmarkRunsOnTinyInput() throws {
        let bench = try BuiltProducts.path(of: "sluice-bench")
        let binDir = URL(fileURLWithPath: bench).deletingLastPathComponent().path
        let process = try ChildProcess(
            executable: bench,
            arguments: ["run", "--quick", "--skip-quix", "--events", "7000", "--latency-seconds", "1", "--bin-dir", binDir])
        // The workers phase starts each of two jobs 8 more times (up to 3 processes at once): about
        // 150 s in all on a busy 2-core machine in debug, so more room than the 120 s the other phases needed.
        let status = process.waitForExit(timeout: 300)
        if status == nil { process.kill() }
        let output = process.outputLines
        #expect(status == 0, "sluice-bench failed:\n\(output.suffix(40).joined(separator: "\n"))")

        // A figure per contender: records/s and latency percentiles (window latency for the click count).
        for contender in ["raw", "sluice-alo", "sluice-eos", "click-count"] {
            let line = output.first { $0.hasPrefix("RESULT \(contender) ") }
            #expect(line != nil, "no figures for \(contender)")
            let rate = line.flatMap { Self.field("records_per_s", in: $0) }.flatMap(Double.init)
            #expect((rate ?? 0) > 0, "no records/s for \(contender): \(line ?? "")")
            #expect(line?.contains("verdict=\"exact") == true, "the output of \(contender) was not exact: \(line ?? "")")
            if contender == "sluice-eos" || contender == "click-count" {
                let checkpoints = line.flatMap { Self.field("checkpoints", in: $0) }.flatMap(Int.init)
                #expect((checkpoints ?? 0) > 0, "no checkpoint figures for \(contender): \(line ?? "")")
            }
            #expect(line.flatMap { Self.field("p99_ms", in: $0) }.flatMap(Double.init) != nil, "no latency for \(contender)")
            if contender != "click-count" {
                let written = line.flatMap { Self.field("written_records_per_s", in: $0) }.flatMap(Double.init)
                #expect((written ?? 0) > 0, "no processing rate for \(contender): \(line ?? "")")
            }
        }
        let state = output.first { $0.hasPrefix("RESULT state-checkpoint ") }
        #expect(state.flatMap { Self.field("ms", in: $0) }.flatMap(Double.init) != nil, "no state-checkpoint figure")
        let restart = output.first { $0.hasPrefix("RESULT restart ") }
        #expect(restart.flatMap { Self.field("seconds", in: $0) }.flatMap(Double.init) != nil, "no restart figure")
        #expect(output.contains { $0.contains("exactly-once >= 0.9x at-least-once") }, "no ratio checks printed")

        // The workers phase, for the pass-through and the click count: one process without and with
        // the hop, then 2 and 3 workers, each exact.
        let shapes = ["one-process", "one-process-hop", "2-workers", "3-workers"]
        for contender in ["pass-through", "click-count"].flatMap({ job in shapes.map { "\(job)-\($0)" } }) {
            let line = output.first { $0.hasPrefix("RESULT-WORKERS contender=\(contender) ") }
            #expect(line.flatMap { Self.field("records_per_s", in: $0) }.flatMap(Double.init).map { $0 > 0 } == true,
                    "no records/s for workers contender \(contender): \(line ?? "no RESULT-WORKERS line")")
            #expect(line.flatMap { Self.field("cpu_s", in: $0) }.flatMap(Double.init) != nil, "no CPU for \(contender): \(line ?? "")")
            #expect(line.flatMap { Self.field("p99_ms", in: $0) }.flatMap(Double.init) != nil, "no latency for \(contender): \(line ?? "")")
            #expect(line?.contains("verdict=\"EXACT\"") == true, "the output of \(contender) was not exact: \(line ?? "")")
        }
        for job in ["pass-through", "click-count"] {
            #expect(output.contains { $0.hasPrefix("PASS  hop cost, \(job): one process with the hop vs without") }, "no hop-cost check for \(job), or not PASS")
        }
    }

    /// Keeps the measurement modes of issue 16 working (not their figures): the steady-state mode and
    /// the latency sweep on a few thousand events, one repetition, two contenders, two intervals.
    @Test func steadyStateAndLatencySweepRunOnTinyInput() throws {
        let bench = try BuiltProducts.path(of: "sluice-bench")
        let binDir = URL(fileURLWithPath: bench).deletingLastPathComponent().path
        let process = try ChildProcess(
            executable: bench,
            arguments: ["run", "--steady-state", "--latency-sweep", "--steady-events", "5000", "--repetitions", "1",
                        "--only", "raw", "--only", "sluice-eos", "--skip-quix", "--latency-rate", "2000", "--latency-seconds", "1",
                        "--sweep-intervals", "100", "1000", "--timeout", "60", "--bin-dir", binDir])
        let status = process.waitForExit(timeout: 120)
        if status == nil { process.kill() }
        let output = process.outputLines
        #expect(status == 0, "sluice-bench --steady-state --latency-sweep failed:\n\(output.suffix(40).joined(separator: "\n"))")
        for contender in ["raw", "sluice-eos"] {
            let line = output.first { $0.hasPrefix("RESULT-STEADY \(contender) ") }
            #expect(line.flatMap { Self.field("whole_records_per_s", in: $0) }.flatMap(Double.init).map { $0 > 0 } == true,
                    "no whole-run rate for \(contender): \(line ?? "no RESULT-STEADY line")")
            // A few thousand events are one or two checkpoints: the middle rate may be "-" (none visible in the middle).
            #expect(line.flatMap { Self.field("middle_records_per_s", in: $0) } != nil, "no middle-of-run rate for \(contender): \(line ?? "")")
            #expect(line?.contains("verdict=\"exact") == true, "the output of \(contender) was not exact: \(line ?? "")")
        }
        for interval in ["100", "1000"] {
            let line = output.first { $0.hasPrefix("RESULT-SWEEP interval_ms=\(interval) ") }
            #expect(line.flatMap { Self.field("p999_ms", in: $0) }.flatMap(Double.init) != nil, "no latency at \(interval) ms: \(line ?? "no RESULT-SWEEP line")")
            #expect(line?.contains("verdict=\"exact") == true, "the output at \(interval) ms was not exact: \(line ?? "")")
        }
        #expect(output.contains { $0.contains("steady state: exactly-once >= 0.75x raw") }, "no steady-state ratio printed")
        #expect(output.contains { $0.contains("throughput at 100 ms checkpoints >= 0.85x") }, "no sweep target printed")
    }

    /// The value of `name=value` in a RESULT line.
    static func field(_ name: String, in line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }
}
