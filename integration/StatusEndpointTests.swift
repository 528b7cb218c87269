import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceTestKit
import Testing

/// A running job serves its status as JSON and its metrics for Prometheus.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct StatusEndpointTests {
    func get(_ url: String) throws -> String {
        let data = try Data(contentsOf: try #require(URL(string: url)))
        return String(decoding: data, as: UTF8.self)
    }

    @Test func servesStatusAndMetricsWhileTheJobRuns() throws {
        let scenario = try ClickCountScenario("status")
        defer { scenario.tearDown() }
        try scenario.generate(windows: 6, rate: 6000, wait: false)
        let job = try scenario.startJob(extraArguments: ["--status-port", "0"])
        let line = try #require(job.waitForLine(timeout: 30) { $0.hasPrefix("status: ") }, "\(job.outputLines.suffix(5))")
        let statusURL = String(line.dropFirst("status: ".count))
        let base = String(statusURL.dropLast("/status".count))

        // Wait for a completed checkpoint and some committed output, then look.
        var status: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(30)
        repeat {
            Thread.sleep(forTimeInterval: 0.5)
            let json = try JSONSerialization.jsonObject(with: Data(try get(statusURL).utf8)) as? [String: Any]
            status = json?["status"] as? [String: Any] ?? [:]
        } while ((status["lastCompletedCheckpoint"] as? Int) ?? 0) < 3 && Date() < deadline
        #expect(status["phase"] as? String == "running")
        #expect((status["lastCompletedCheckpoint"] as? Int ?? 0) >= 3)
        #expect(status["lastCheckpointDurationMillis"] != nil)

        let metrics = try get(base + "/metrics")
        for name in ["sluice_records_in_total", "sluice_checkpoint_duration", "sluice_checkpoints_completed_total",
                     "sluice_sink_transactions_committed", "sluice_source_kafka_lag", "sluice_restarts_total"] {
            #expect(metrics.contains(name), "no \(name) in /metrics")
        }
        #expect(throws: (any Error).self) { _ = try get(base + "/nothing-here") }
        job.terminate(timeout: 10)
    }
}
