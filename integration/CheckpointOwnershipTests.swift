import Foundation
import SluiceClickCount
import SluiceTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13, points 1 and 2: one job per checkpoint directory, and one job per transactional-id prefix.
@Suite(.serialized) struct CheckpointOwnershipTests {
    /// A second job on the same checkpoint directory fails at start naming the first (its pid); the
    /// kernel frees the directory when the first is SIGKILLed, and a new job then starts from it.
    @Test func aSecondJobOnTheCheckpointDirectoryFailsNamingTheFirst() throws {
        let scenario = try ClickCountScenario("ownership")
        defer { scenario.tearDown() }
        try scenario.generate(windows: 2, rate: 12_000, wait: false)
        let first = try scenario.startJob()
        #expect(first.waitForLine(timeout: 60) { $0.contains("Checkpoint 1 complete") } != nil, "\(first.outputLines.suffix(10))")

        let second = try scenario.startJob()
        let status = second.waitForExit(timeout: 30)
        if status == nil { second.kill() }
        let output = second.outputLines.joined(separator: "\n")
        print("second job: exit \(status.map(String.init) ?? "none"): \(second.outputLines.last ?? "")")
        #expect(status != nil && status != 0, "\(output.suffix(800))")
        #expect(output.contains("is in use by another job (pid \(first.processIdentifier) on "), "\(output.suffix(800))")
        #expect(!output.contains("Restoring job"), "the second job restored the first one's checkpoint")
        #expect(first.waitForExit(timeout: 0.5) == nil, "the first job stopped")

        first.kill()
        _ = first.waitForExit(timeout: 10)
        let third = try scenario.startJob()
        #expect(third.waitForLine(timeout: 60) { $0.contains("Restoring job 'click-count' from checkpoint") } != nil,
                "\(third.outputLines.suffix(10))")
        let verdict = try scenario.waitForExactOutput(windows: 2, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
    }

    /// A second job with the same transactional-id prefix (another checkpoint directory) fences the
    /// first one's producers: the first fails with the fenced message and does not restart.
    @Test func aJobFencedByAnotherWithItsPrefixFailsWithoutRestarting() throws {
        let scenario = try ClickCountScenario("fenced")
        defer { scenario.tearDown() }
        try scenario.generate(windows: 4, rate: 3_000, wait: false)
        let first = try scenario.startJob(extraArguments: ["--restart-attempts", "3"])
        #expect(first.waitForLine(timeout: 60) { $0.contains("Checkpoint 1 complete") } != nil, "\(first.outputLines.suffix(10))")

        let otherDirectory = scenario.checkpointDirectory + "-other"
        let second = try scenario.startJob(extraArguments: ["--checkpoint-dir", otherDirectory, "--restart-attempts", "0"])
        defer { second.kill() }
        let status = first.waitForExit(timeout: 60)
        if status == nil { first.kill() }
        let output = first.outputLines.joined(separator: "\n")
        print("fenced job: exit \(status.map(String.init) ?? "none"): \(first.outputLines.last ?? "")")
        #expect(status != nil && status != 0, "\(output.suffix(800))")
        #expect(output.contains("was taken over by another producer"), "\(output.suffix(800))")
        #expect(output.contains("'\(scenario.transactionalIdPrefix)-"), "\(output.suffix(800))")
        #expect(!output.contains("; restart 1 in"), "the fenced job restarted: \(output.suffix(800))")
    }
}
