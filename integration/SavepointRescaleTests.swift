import Foundation
import SluiceClickCount
import SluiceTestKit
import Testing

#if canImport(Glibc)
import Glibc
import SluiceKafkaWire
#endif

/// Flink's operations playground scenarios "stop with a savepoint and resume" and "resume with a
/// higher parallelism", with exactly-once output: the click-count job runs with parallelism 1, is
/// stopped with a savepoint (SIGUSR1), resumed from it with parallelism 3 on 3 partitions, stopped
/// again, and resumed with parallelism 2. Keyed window state is split by key groups, the source's
/// partitions are reassigned, and the old transactional ids are cleaned up.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct SavepointRescaleTests {
    func stopWithSavepoint(_ job: ChildProcess) throws -> String {
        kill(job.processIdentifier, SIGUSR1)
        let line = try #require(job.waitForLine(timeout: 60) { $0.hasPrefix("savepoint: ") },
                                "no savepoint line: \(job.outputLines.suffix(10))")
        let status = job.waitForExit(timeout: 30)
        #expect(status == 0, "the job should end after stop-with-savepoint, got \(String(describing: status))")
        return String(line.dropFirst("savepoint: ".count))
    }

    @Test func rescalesOneToThreeToTwoThroughSavepointsExactlyOnce() throws {
        let scenario = try ClickCountScenario("rescale", partitions: 3)
        defer { scenario.tearDown() }
        let windows = 12
        try scenario.generate(windows: windows, rate: 6000, wait: false)

        let first = try scenario.startJob(parallelism: 1)
        Thread.sleep(forTimeInterval: 3)
        let savepoint1 = try stopWithSavepoint(first)
        #expect(FileManager.default.fileExists(atPath: savepoint1 + "/_metadata"))
        let committedAfterStop = try scenario.verdict(windows: windows)
        #expect(committedAfterStop.duplicated.isEmpty && committedAfterStop.wrongCounts.isEmpty, "\(committedAfterStop)")

        let second = try scenario.startJob(parallelism: 3, extraArguments: ["--from-savepoint", savepoint1])
        Thread.sleep(forTimeInterval: 3)
        let savepoint2 = try stopWithSavepoint(second)
        #expect(savepoint2 != savepoint1)
        #expect(scenario.jobLog(2).contains("savepoint"), "the second run should say it restored the savepoint")

        let third = try scenario.startJob(parallelism: 2, extraArguments: ["--from-savepoint", savepoint2])
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        third.terminate(timeout: 10)
        let output = try scenario.committedOutput()
        #expect(ClickCountVerdict(outputValues: output.committedRecords.compactMap(\.value), windows: windows).isExact)
        // Savepoints are never deleted by checkpoint retention.
        #expect(FileManager.default.fileExists(atPath: savepoint1 + "/_metadata"))
        #expect(FileManager.default.fileExists(atPath: savepoint2 + "/_metadata"))
    }
}
