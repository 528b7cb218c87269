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
        let status = process.waitForExit(timeout: 120)
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
    }

    /// The value of `name=value` in a RESULT line.
    static func field(_ name: String, in line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }
}
