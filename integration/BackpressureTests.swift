import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceClickCount
import SluiceOps
import SluiceTestKit
import Testing
import SluiceRuntime

/// The playground's backpressure scenario: a slow operator after the source holds the job back.
/// Checkpoints still complete (barriers travel behind the records in the channels), `/status` and
/// `sluice status` show the time backpressured and the lag, `/metrics` shows
/// sluice_backpressured_time_nanoseconds_total, and the output is still exact. The operator sleeps
/// in every minute here (the playground's sleeps only in even ones), so the test does not depend
/// on the wall clock.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BackpressureTests {
    @Test func checkpointsCompleteAndStatusAndMetricsShowBackpressure() throws {
        let scenario = try ClickCountScenario("backpressure")
        defer { scenario.tearDown() }
        let windows = 8
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        let job = try scenario.startJob(extraArguments: [
            "--backpressure", "--backpressure-every-minute", "--backpressure-pause-ms", "1", "--status-port", "0",
        ])
        let client = StatusClient(baseURL: try scenario.statusURL(of: job), timeoutSeconds: 10)

        // While the job is behind (output not yet complete): backpressure, lag, and checkpoints completing.
        var whileBehind: JobStatusReport?
        var seen: [String] = []
        var sawLag = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            let report = try client.status()
            seen.append(String(decoding: report.json(), as: UTF8.self))
            if report.lag.contains(where: { $0.lag > 0 }) { sawLag = true }
            let behind = !(try scenario.verdict(windows: windows).isExact)
            // Barriers wait behind the records queued in the channels, so a checkpoint takes seconds here.
            if behind, report.backpressuredMillis > 0, (report.status.lastCompletedCheckpoint ?? 0) >= 2 {
                whileBehind = report
                break
            }
            if !behind { break }
        }
        let report = try #require(whileBehind, "never saw backpressure with 2 completed checkpoints while the job was behind:\n\(seen.suffix(6).joined(separator: "\n"))")
        #expect(sawLag, "no lag reported while backpressured")
        #expect(report.status.phase == .running)

        let status = try scenario.sluiceOutput(["status", "--status-url", client.baseURL])
        let backpressured = status.first { $0.hasPrefix("backpressured: ") }
        #expect(backpressured != nil && backpressured?.hasPrefix("backpressured: 0.0 s") == false, "\(status)")

        let metrics = try client.metrics()
        let samples = metrics.split(separator: "\n").filter { $0.hasPrefix("sluice_backpressured_time_nanoseconds_total") }
        let total = samples.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        #expect(total > 0, "sluice_backpressured_time_nanoseconds_total is 0 in /metrics:\n\(samples.joined(separator: "\n"))")

        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        // Checkpointing goes on: a later checkpoint completes.
        let before = report.status.lastCompletedCheckpoint ?? 0
        var later = try client.status().status.lastCompletedCheckpoint ?? 0
        let checkpointDeadline = Date().addingTimeInterval(20)
        while later <= before && Date() < checkpointDeadline {
            Thread.sleep(forTimeInterval: 0.5)
            later = try client.status().status.lastCompletedCheckpoint ?? 0
        }
        #expect(later > before, "no checkpoint completed after \(before)")
        job.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact)
    }
}
