import Foundation
import SluiceClickCount
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Exactly-once, proven: the click-count job is killed with SIGKILL at random moments and at named
/// crash points of the two-phase commit, restarted from its checkpoints, and its committed output is
/// checked with the transaction-aware reader: every (window, page) exactly once with count 1000.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ClickCountExactlyOnceTests {
    @Test func survivesRepeatedSigkillAtRandomMoments() throws {
        var random = SplitMix64.forTest()
        print("survivesRepeatedSigkillAtRandomMoments: SLUICE_TEST_SEED=\(random.seed)")
        let scenario = try ClickCountScenario("kill")
        defer { scenario.tearDown() }
        let windows = 12
        // About one window per second of wall time, so the kills land while windows fire and commit.
        try scenario.generate(windows: windows, rate: 6000, wait: false)
        var job = try scenario.startJob()
        var kills = 0
        while kills < 5 {
            let delay = Double.random(in: 1.0...3.5, using: &random)
            Thread.sleep(forTimeInterval: delay)
            #expect(job.isRunning, "the job exited on its own: \(job.outputLines.suffix(10))")
            job.kill()
            kills += 1
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.5, using: &random))
            job = try scenario.startJob()
        }
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        // Nothing more may appear once the job has caught up: stop it and look again.
        Thread.sleep(forTimeInterval: 2.5)
        job.terminate(timeout: 10)
        let final = try scenario.verdict(windows: windows)
        #expect(final.isExact, "after stopping: \(final)")
        // The restarts resumed from checkpoints, not from the beginning of the input.
        #expect((2...6).contains { scenario.jobLog($0).contains("Restoring job") }, "no restart restored a checkpoint")
    }

    /// The same proof with keyed state in SQLite files (incremental checkpoints into `shared/`) and two
    /// checkpoints in flight at once: killed twice, restarted from its checkpoints, exact.
    @Test func diskStateAndConcurrentCheckpointsSurviveSigkill() throws {
        var random = SplitMix64.forTest()
        print("diskStateAndConcurrentCheckpointsSurviveSigkill: SLUICE_TEST_SEED=\(random.seed)")
        let scenario = try ClickCountScenario("disk")
        defer { scenario.tearDown() }
        let windows = 10
        try scenario.generate(windows: windows, rate: 6000, wait: false)
        let arguments = [
            "--state-backend", "disk", "--state-dir", "\(scenario.logDirectory)/state",
            "--max-concurrent-checkpoints", "2", "--checkpoint-interval-ms", "500",
        ]
        var job = try scenario.startJob(extraArguments: arguments)
        for _ in 0..<2 {
            Thread.sleep(forTimeInterval: Double.random(in: 2.0...3.5, using: &random))
            #expect(job.isRunning, "the job exited on its own: \(job.outputLines.suffix(10))")
            job.kill()
            job = try scenario.startJob(extraArguments: arguments)
        }
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        job.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact)
        // The keyed state really went through the disk backend's shared, incremental files.
        let shared = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.checkpointDirectory)/shared")) ?? []
        #expect(!shared.isEmpty, "no shared state files under \(scenario.checkpointDirectory)/shared")
        // And incrementally: some checkpoint wrote less than the state it references.
        let lines = (1...3).flatMap { scenario.jobLog($0).split(separator: "\n") }.filter { $0.contains(" of them written now") }
        let incremental = lines.contains { line in
            // "Checkpoint N complete (TOTAL bytes, WRITTEN of them written now, MS ms)."
            guard let at = line.range(of: "complete (") else { return false }
            let tail = line[at.upperBound...].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return tail.count >= 2 && tail[1] < tail[0]
        }
        #expect(incremental, "no incremental checkpoint in the job logs: \(lines.suffix(3))")
    }

    /// Crash points of the two-phase commit. `afterCheckpointCompleteBeforeCommit` is where toolkits
    /// that commit only from the running producer lose data: the checkpoint promised the
    /// transaction, the process died before committing it, and only recovery can commit it.
    @Test(arguments: ["afterPreCommit", "afterCheckpointCompleteBeforeCommit", "betweenSubtaskCommits"])
    func recoversExactlyFromCrashPoint(_ point: String) throws {
        let scenario = try ClickCountScenario(point)
        defer { scenario.tearDown() }
        // Two windows per second of wall time, so every 1 s checkpoint's transaction carries output
        // from both sink subtasks, and the crash at checkpoint 3 lands while input still flows.
        let windows = 10
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        let crashAt = 3
        let first = try scenario.startJob(environment: ["SLUICE_CRASH_AT": "\(point):\(crashAt)"])
        let status = first.waitForExit(timeout: 60)
        #expect(status != nil, "the job did not crash at \(point):\(crashAt)")
        #expect(first.outputLines.contains { $0.contains("crash point \(point) at checkpoint \(crashAt)") },
                "no crash line in: \(first.outputLines.suffix(10))")
        if point != "afterPreCommit" {
            #expect(scenario.completedCheckpoints().contains(Int64(crashAt)), "checkpoint \(crashAt) should be complete")
        }
        let pendingBeforeRestart = try scenario.committedOutput().transactions.filter { $0.state == .open }
        if point == "afterCheckpointCompleteBeforeCommit" || point == "betweenSubtaskCommits" {
            // A promised transaction is still open: without recovery its windows would be lost.
            #expect(!pendingBeforeRestart.isEmpty, "expected a promised transaction to be open before the restart")
        }
        let second = try scenario.startJob()
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 60)
        #expect(verdict.isExact, "\(verdict)")
        second.terminate(timeout: 10)
        let output = try scenario.committedOutput()
        #expect(ClickCountVerdict(outputValues: output.committedRecords.compactMap(\.value), windows: windows).isExact)
        // Both sink subtasks (two transactional producers) wrote, so both took part in the commit protocol.
        #expect(Set(output.transactions.filter { $0.state == .committed }.map(\.producerId)).count >= 2)
        if point != "afterPreCommit" {
            #expect(scenario.jobLog(2).contains("ecovered transaction"), "the restart should have resolved the promised transaction")
        }
    }

    /// The newest checkpoint's metadata is damaged: the job reads it from its copy (`_metadata.copy`),
    /// says so, and the output is still exact. (Falling back to an older checkpoint is refused unless
    /// proven safe: see DamagedNewestCheckpointTests.)
    @Test func fallsBackFromCorruptNewestCheckpoint() throws {
        let scenario = try ClickCountScenario("corrupt")
        defer { scenario.tearDown() }
        let windows = 10
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        let crashAt: Int64 = 3
        let first = try scenario.startJob(environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:\(crashAt)"])
        #expect(first.waitForExit(timeout: 60) != nil)
        let metadata = scenario.checkpointDirectory + "/chk-\(crashAt)/_metadata"
        var bytes = try #require(FileManager.default.contents(atPath: metadata))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: metadata))

        let second = try scenario.startJob()
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 60)
        #expect(verdict.isExact, "\(verdict)")
        second.terminate(timeout: 10)
        let log = scenario.jobLog(2)
        #expect(log.contains("chk-\(crashAt)/_metadata is unusable"), "no fallback line in the log")
        #expect(try scenario.verdict(windows: windows).isExact)
    }

    /// The broker stops answering for several seconds while the job runs (its process is frozen):
    /// the job rides it out or restarts from its checkpoint, and the output is still exact.
    /// Idleness is set above the outage: with the playground's 5 s, an 8 s outage marks both
    /// partitions idle, and when they come back one after the other the first alone moves the
    /// watermark, so the other's records are late and dropped (Flink's idleness semantics; this
    /// test caught it, with windows counted 965).
    @Test func survivesTheBrokerBeingUnreachableForSeconds() throws {
        let scenario = try ClickCountScenario("broker-pause")
        defer { scenario.tearDown() }
        let windows = 10
        try scenario.generate(windows: windows, rate: 6000, wait: false)
        let job = try scenario.startJob(extraArguments: ["--restart-attempts", "5", "--idleness-ms", "30000"])
        Thread.sleep(forTimeInterval: 3)
        scenario.broker.pause()
        Thread.sleep(forTimeInterval: 8)
        scenario.broker.resume()
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        #expect(job.isRunning, "the job gave up: \(job.outputLines.suffix(10))")
        job.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact)
    }
}
