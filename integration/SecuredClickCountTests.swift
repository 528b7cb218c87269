import Foundation
import SluiceClickCount
import SluiceTestKit
import Testing
import SluiceKafkaWire

/// Exactly-once on a secured cluster: the click-count job runs with `-X security.protocol=SASL_SSL` (SCRAM-SHA-512
/// through the SASL front, TLS through stunnel4), is killed with SIGKILL at
/// `afterCheckpointCompleteBeforeCommit` and at random moments, and restarts. The promised transaction can
/// only be committed by the recovery EndTxn, over Sluice's own TLS + SCRAM connection; the output must be exact.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SecuredClickCountTests {
    @Test func survivesCrashPointAndSigkillsOnSaslSsl() throws {
        var random = SplitMix64.forTest()
        print("survivesCrashPointAndSigkillsOnSaslSsl: SLUICE_TEST_SEED=\(random.seed)")
        let scenario = try ClickCountScenario("sasl-ssl", secured: .saslSslScram512)
        defer { scenario.tearDown() }
        let windows = 10
        try scenario.generate(windows: windows, rate: 8000, wait: false)

        let point = "afterCheckpointCompleteBeforeCommit"
        let crashAt = 3
        let first = try scenario.startJob(environment: ["SLUICE_CRASH_AT": "\(point):\(crashAt)"])
        #expect(first.waitForExit(timeout: 60) != nil, "the job did not crash at \(point):\(crashAt)")
        #expect(first.outputLines.contains { $0.contains("crash point \(point) at checkpoint \(crashAt)") },
                "no crash line in: \(first.outputLines.suffix(10))")
        let open = try scenario.committedOutput().transactions.filter { $0.state == .open }
        #expect(!open.isEmpty, "expected the promised transaction to be open before the restart")

        var job = try scenario.startJob()
        var kills = 1
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: Double.random(in: 1.5...3.0, using: &random))
            #expect(job.isRunning, "the job exited on its own: \(job.outputLines.suffix(10))")
            job.kill()
            kills += 1
            job = try scenario.startJob()
        }
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 75)
        print("SASL_SSL kill-and-recover: \(kills) kills (1 at \(point):\(crashAt), \(kills - 1) random), "
            + "\(scenario.jobStarts) job starts, verdict: \(verdict)")
        #expect(verdict.isExact, "\(verdict)")
        job.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact, "after stopping")
        #expect(scenario.jobLog(2).contains("ecovered transaction"), "the first restart should have committed the promised transaction")
    }
}
