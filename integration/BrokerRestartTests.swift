import Foundation
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// The broker itself dies (SIGKILL) and comes back on the same address with its data, which a
/// memory-only broker cannot do: these runs keep the broker's log in a local S3-compatible server.
/// Each run's output must be exact, and the job must recover by itself within the bound below.
@Suite(.serialized) struct BrokerRestartTests {
    /// How long a job may take to produce exact output once the broker is back.
    static let recoveryBound: TimeInterval = 120

    /// A committed transaction and the topic survive a broker kill; a restarted broker serves them.
    @Test func theDurableBrokerKeepsCommittedRecordsAcrossAKill() throws {
        let scenario = try ClickCountScenario("durable-broker", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        try scenario.generate(windows: 1, rate: 20_000, wait: true)
        let before = try TransactionAwareLogReader(bootstrap: scenario.broker.bootstrap).readTopic(scenario.inputTopic)
        #expect(before.committedRecords.count >= 6000)
        durable.kill()
        try durable.restart()
        let after = try TransactionAwareLogReader(bootstrap: scenario.broker.bootstrap).readTopic(scenario.inputTopic)
        #expect(after.committedRecords.count == before.committedRecords.count)
        #expect(after.committedRecords.map(\.value) == before.committedRecords.map(\.value))
    }

    /// (a) The broker is killed while the job runs and checkpoints are in flight, and is back 2 s later.
    @Test func theJobRecoversWhenTheBrokerIsKilledWhileCheckpointsAreInFlight() throws {
        let scenario = try ClickCountScenario("broker-kill-running", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        let windows = 3
        try scenario.generate(windows: windows, rate: 6000, wait: true)
        let job = try scenario.startJob(extraArguments: [
            "--restart-attempts", "10", "--idleness-ms", "60000", "--checkpoint-interval-ms", "300",
        ])
        #expect(job.waitForLine(timeout: 60) { $0.contains("Checkpoint 2 complete") } != nil,
                "no checkpoint before the kill: \(job.outputLines.suffix(5))")
        durable.kill()
        Thread.sleep(forTimeInterval: 2)
        try durable.restart()
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: Self.recoveryBound)
        #expect(verdict.isExact, "\(verdict)")
        job.terminate(timeout: 10)
    }

    /// (c) The job is killed after a checkpoint completed but before it committed; the broker dies too,
    /// so the restarted job's recovery (commit what the checkpoint promised) meets a broker that is
    /// down, then back after 3 s.
    @Test func recoveryWaitsForABrokerThatIsDownAndCommitsWhenItIsBack() throws {
        let scenario = try ClickCountScenario("broker-kill-recovery", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        let windows = 3
        try scenario.generate(windows: windows, rate: 6000, wait: true)
        let first = try scenario.startJob(environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:3"])
        #expect(first.waitForExit(timeout: 60) != nil, "the crash point was not reached")
        durable.kill()
        let second = try scenario.startJob(extraArguments: ["--restart-attempts", "10", "--idleness-ms", "60000"])
        Thread.sleep(forTimeInterval: 3)
        try durable.restart()
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: Self.recoveryBound)
        #expect(verdict.isExact, "\(verdict)")
        #expect(scenario.jobLog(2).contains("Restoring job"),
                "the second job did not restore a checkpoint")
        second.terminate(timeout: 10)
    }
}
