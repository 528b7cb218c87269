import Foundation
import SluiceTestKit
import Testing

/// `sluice inject`, the fault-injection command users point at their own jobs, run here on the
/// click-count job: it must say EXACT for a correct expectation and fail for a wrong one.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct InjectCommandTests {
    func inject(_ scenario: ClickCountScenario, expectWindows: Int, kills: Int, crashPoints: [String], settle: Int = 60) throws -> ChildProcess {
        let jobArguments = [
            try BuiltProducts.path(of: "click-count-job"),
            "--bootstrap", scenario.broker.bootstrap, "--input-topic", scenario.inputTopic, "--output-topic", scenario.outputTopic,
            "--checkpoint-dir", scenario.checkpointDirectory, "--checkpointing", "--event-time",
            "--transactional-id-prefix", scenario.transactionalIdPrefix, "--restart-attempts", "0",
        ]
        var arguments = ["inject", "--bootstrap", scenario.broker.bootstrap, "--output-topic", scenario.outputTopic,
                         "--expect-click-count", String(expectWindows), "--kills", String(kills),
                         "--min-interval", "1", "--max-interval", "2.5", "--settle-timeout", String(settle),
                         "--log-dir", scenario.logDirectory]
        for point in crashPoints { arguments += ["--crash-point", point] }
        return try ChildProcess(executable: try BuiltProducts.path(of: "sluice"), arguments: arguments + ["--"] + jobArguments,
                                logPath: scenario.logDirectory + "/inject.log")
    }

    @Test func reportsExactOutputUnderKillsAndCrashPoints() throws {
        let scenario = try ClickCountScenario("inject")
        defer { scenario.tearDown() }
        try scenario.generate(windows: 10, rate: 8000, wait: false)
        let run = try inject(scenario, expectWindows: 10, kills: 3, crashPoints: ["afterCheckpointCompleteBeforeCommit:2"])
        let status = run.waitForExit(timeout: 200)
        #expect(status == 0, "sluice inject failed:\n\(run.outputLines.suffix(15).joined(separator: "\n"))")
        #expect(run.outputLines.contains { $0.hasPrefix("EXACT") })
        #expect(run.outputLines.contains { $0.contains("killed at the crash point") })
        #expect(run.outputLines.filter { $0.contains("SIGKILL") }.count == 3)
    }

    @Test func failsWhenTheOutputDoesNotMatchTheExpectation() throws {
        let scenario = try ClickCountScenario("inject-wrong")
        defer { scenario.tearDown() }
        // Paced, so input still flows around the kill and every written window closes.
        try scenario.generate(windows: 3, rate: 8000, wait: false)
        // Only 3 windows exist; expecting 5 must end in a verdict naming the missing ones.
        let run = try inject(scenario, expectWindows: 5, kills: 1, crashPoints: [], settle: 15)
        let status = run.waitForExit(timeout: 150)
        #expect(status == 1, "expected failure, got \(String(describing: status)):\n\(run.outputLines.suffix(10).joined(separator: "\n"))")
        #expect(run.outputLines.contains { $0.hasPrefix("NOT EXACT") })
        #expect(run.outputLines.contains { $0.contains("missing 12") })
    }
}
