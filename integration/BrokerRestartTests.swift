import Foundation
import SluiceKafkaWire
import SluiceTestKit
import Testing
import SluiceClickCount

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
    /// The job is held (SIGSTOP) for 2 s before the kill and let go right after it, so it meets the dead
    /// broker mid-checkpoint (open transaction, barriers on their way, a commit due), while the broker
    /// itself is not killed inside a request: the embedded broker cannot survive that. Killed inside an
    /// EndTxn, it keeps the transaction as committed with markers on only some of its partitions, and no
    /// later EndTxn writes the rest (it failed this test so once: one window's records on one partition
    /// stayed in a transaction that never ended). Kafka's coordinator finishes the markers on restart.
    @Test func theJobRecoversWhenTheBrokerIsKilledWhileCheckpointsAreInFlight() throws {
        let scenario = try ClickCountScenario("broker-kill-running", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        let windows = 3
        try scenario.generate(windows: windows, rate: 20_000, wait: true)
        let input = try Self.inputCount(scenario)
        let job = try scenario.startJob(extraArguments: [
            "--restart-attempts", "10", "--idleness-ms", "60000", "--checkpoint-interval-ms", "300",
        ])
        #expect(job.waitForLine(timeout: 60) { $0.contains("Checkpoint 2 complete") } != nil,
                "no checkpoint before the kill: \(job.outputLines.suffix(5))")
        kill(job.processIdentifier, SIGSTOP)
        Thread.sleep(forTimeInterval: 2)
        durable.kill()
        kill(job.processIdentifier, SIGCONT)
        Thread.sleep(forTimeInterval: 2)
        try durable.restart()
        try Self.expectTheBrokerKept(input, scenario)
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: Self.recoveryBound)
        #expect(verdict.isExact, "\(verdict)\n\(Self.transactions(scenario))")
        job.terminate(timeout: 10)
    }

    /// (c) The job is killed after checkpoint 3 completed but before it committed; the broker dies too,
    /// so the restarted job's recovery (commit what the checkpoint promised) meets a broker that is
    /// down, then back after 3 s.
    /// It once missed its last window (75 s) under load: only the last ~120 events of the generator's
    /// tail (event time past 90.2 s) can close it, they went in one batch to one partition, and the
    /// other partition then closed it only by going idle (60 s here) after the slow catch-up from S3.
    /// The generator now spreads its tail over every partition (issue 13).
    /// Like (b), a run whose checkpoint 3 held no records is run again (see `untilCheckpoint3HeldRecords`).
    @Test func recoveryWaitsForABrokerThatIsDownAndCommitsWhenItIsBack() throws {
        try Self.untilCheckpoint3HeldRecords("broker-kill-recovery", recoveryWaitsForABrokerThatIsDown)
    }

    private func recoveryWaitsForABrokerThatIsDown(lastAttempt: Bool) throws -> Bool {
        let scenario = try ClickCountScenario("broker-kill-recovery", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        let windows = 6
        let first = try scenario.startJob(environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:3"])
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        #expect(first.waitForExit(timeout: 60) != nil, "the crash point was not reached")
        guard let input = try Self.inputAfterTheGeneratorEnds(scenario, lastAttempt: lastAttempt) else { return false }
        durable.kill()
        let second = try scenario.startJob(extraArguments: ["--restart-attempts", "10", "--idleness-ms", "60000"])
        Thread.sleep(forTimeInterval: 3)
        try durable.restart()
        try Self.expectTheBrokerKept(input, scenario)
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: Self.recoveryBound)
        #expect(verdict.isExact, "\(verdict)\n\(Self.transactions(scenario))")
        second.terminate(timeout: 10)
        #expect(scenario.jobLog(2).contains("Restoring job"), "the second job did not restore a checkpoint")
        let tested = scenario.jobLog(2).contains("Committed recovered transaction")
        if !tested && !lastAttempt { return false }
        #expect(tested, "checkpoint 3 promised no transaction, so recovery against a returning broker tested nothing")
        return true
    }

    /// (b) The broker is killed between pre-commit and commit: the job stops itself (SIGSTOP) right after
    /// checkpoint 3 is complete and before its sinks commit; the broker is killed and restarted; then
    /// the job goes on and commits into the restarted broker (or fails and recovers from checkpoint 3).
    /// Whether checkpoint 3's transactions hold records depends on when windows close, which a loaded
    /// machine shifts (once none had closed by then). Such a run still must be exact, but it did not
    /// test the kill between pre-commit and commit, so it is run again, at most 3 times in all.
    @Test func aBrokerKilledBetweenPreCommitAndCommitLosesNothing() throws {
        try Self.untilCheckpoint3HeldRecords("broker-kill-commit", brokerKilledBetweenPreCommitAndCommit)
    }

    /// Runs `attempt` until it reports that checkpoint 3 held records (so the run tested its point), at
    /// most 3 times; the last attempt records its failures whatever they are.
    static func untilCheckpoint3HeldRecords(_ name: String, _ attempt: (_ lastAttempt: Bool) throws -> Bool) throws {
        let attempts = 3
        for number in 1...attempts {
            if try attempt(number == attempts) { return }
            print("\(name): attempt \(number) tested nothing (checkpoint 3 promised no records, or the generator failed); running again")
        }
    }

    /// One run of (b); false when checkpoint 3 promised no records, so the run did not test the point.
    private func brokerKilledBetweenPreCommitAndCommit(lastAttempt: Bool) throws -> Bool {
        let scenario = try ClickCountScenario("broker-kill-commit", durable: true)
        defer { scenario.tearDown() }
        let durable = try #require(scenario.durableBroker)
        let windows = 6
        let job = try scenario.startJob(
            environment: ["SLUICE_PAUSE_AT": "afterCheckpointCompleteBeforeCommit:3"],
            extraArguments: ["--restart-attempts", "10", "--idleness-ms", "60000"])
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        #expect(job.waitForLine(timeout: 60) { $0.contains("pause point afterCheckpointCompleteBeforeCommit") } != nil,
                "the pause point was not reached: \(job.outputLines.suffix(5))")
        guard let input = try Self.inputAfterTheGeneratorEnds(scenario, lastAttempt: lastAttempt) else { return false }
        durable.kill()
        Thread.sleep(forTimeInterval: 2)
        try durable.restart()
        try Self.expectTheBrokerKept(input, scenario)
        kill(job.processIdentifier, SIGCONT)
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: Self.recoveryBound)
        #expect(verdict.isExact, "\(verdict)\n\(Self.transactions(scenario))")
        job.terminate(timeout: 10)
        let log = scenario.jobLog(1)
        let tested = Self.committedRecords(ofCheckpoint: 3, in: log) > 0 || log.contains("Committed recovered transaction")
        if !tested && !lastAttempt { return false }
        #expect(tested, "checkpoint 3 promised no records, so the kill between pre-commit and commit tested nothing")
        return true
    }

    /// The embedded broker on S3 storage acknowledges records before they are durable: killed while a
    /// producer writes, it came back without some acknowledged records (measured: 18,373 of 18,600).
    /// These tests are about Sluice, so the broker is given a moment to store what it acknowledged
    /// before it is killed, and each test checks that it kept its input.
    ///
    /// The generator itself can fail to deliver to this broker on a loaded machine (CI once: exit 64,
    /// "events were not delivered"); then the run has no complete input and tests nothing about Sluice.
    /// With `lastAttempt` false that answers nil, so the caller runs again; the last attempt fails.
    static func inputAfterTheGeneratorEnds(_ scenario: ClickCountScenario, lastAttempt: Bool) throws -> Int? {
        let status = scenario.generator?.waitForExit(timeout: 60)
        if status != 0 {
            let failure = "the generator failed (exit \(status.map(String.init) ?? "none")): "
                + (scenario.generator?.outputLines.suffix(5).joined(separator: "\n") ?? "")
            if !lastAttempt {
                print("\(failure)\nnot Sluice's fault; running again")
                return nil
            }
            Issue.record("\(failure)")
        }
        Thread.sleep(forTimeInterval: 2)
        return try inputCount(scenario)
    }

    /// The output's transactions, to tell a broker that lost records from a job that did not write them.
    static func transactions(_ scenario: ClickCountScenario) -> String {
        guard let log = try? scenario.committedOutput() else { return "(output unreadable)" }
        return log.partitions.map { partition in
            "partition \(partition.topicPartition): " + partition.transactions.map {
                "pid \($0.producerId)/\($0.producerEpoch) \($0.firstOffset)...\($0.lastOffset) \($0.recordCount) records \($0.state)"
            }.joined(separator: "; ")
        }.joined(separator: "\n")
    }

    static func expectTheBrokerKept(_ input: Int, _ scenario: ClickCountScenario) throws {
        let kept = try inputCount(scenario)
        try #require(kept == input, "the broker lost acknowledged input across its kill: \(kept) of \(input) records kept")
    }

    /// Input records the broker serves now (the generator's were all acknowledged).
    static func inputCount(_ scenario: ClickCountScenario) throws -> Int {
        try TransactionAwareLogReader(bootstrap: scenario.broker.bootstrap).readTopic(scenario.inputTopic).committedRecords.count
    }

    /// Records the sink reported committing for `checkpoint` (its "... checkpoint N (K records" lines).
    static func committedRecords(ofCheckpoint checkpoint: Int, in log: String) -> Int {
        log.split(separator: "\n").filter { $0.contains("Committed the transaction of checkpoint \(checkpoint) (") }
            .compactMap { line -> Int? in
                guard let range = line.range(of: "checkpoint \(checkpoint) (") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }.reduce(0, +)
    }
}
