import Foundation
import SluiceClickCount
import SluiceOps
import SluiceTestKit
import Testing
import SluiceRuntime

/// The playground's "stop with a savepoint and resume" and "resume with parallelism 3" driven the
/// way an operator does it, through the `sluice` CLI: `run`, `status`, `savepoint` (the job keeps
/// running), `stop` (prints the path), `checkpoints` (lists it as valid), and `run
/// --from-savepoint -p 3`. The committed output is exact at the end.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct OperatorCLITests {
    @Test func savepointStopListAndResumeWithParallelismThreeThroughTheCLI() throws {
        let scenario = try ClickCountScenario("cli", partitions: 3)
        defer { scenario.tearDown() }
        let windows = 12
        try scenario.generate(windows: windows, rate: 6000, wait: false)
        func run(parallelism: Int, from savepoint: String?) throws -> ChildProcess {
            var arguments = ["run", "--bootstrap", scenario.broker.bootstrap, "-p", String(parallelism),
                             "--checkpoint-dir", scenario.checkpointDirectory, "--status-port", "0",
                             "--input-topic", scenario.inputTopic, "--output-topic", scenario.outputTopic]
            if let savepoint { arguments += ["--from-savepoint", savepoint] }
            return try scenario.sluice(arguments + ["--", "--transactional-id-prefix", scenario.transactionalIdPrefix,
                                                    "--restart-attempts", "0", "--checkpoint-interval-ms", "1000"])
        }

        let first = try run(parallelism: 2, from: nil)
        let firstURL = try scenario.statusURL(of: first)
        // Wait for a checkpoint, then look at the job with `sluice status`.
        var status: [String] = []
        let deadline = Date().addingTimeInterval(30)
        repeat {
            Thread.sleep(forTimeInterval: 0.5)
            status = try scenario.sluiceOutput(["status", "--status-url", firstURL])
        } while !status.contains(where: { $0.hasPrefix("checkpoint:") && $0.contains("id ") }) && Date() < deadline
        #expect(status.contains("phase:         running"), "\(status)")
        #expect(status.contains { $0.hasPrefix("checkpoint:    id ") && $0.contains(" ms") }, "\(status)")

        // A savepoint while it runs: the job goes on.
        let taken = try scenario.sluiceOutput(["savepoint", "--status-url", firstURL])
        let kept = try #require(taken.first { $0.hasPrefix("savepoint: ") }.map { String($0.dropFirst("savepoint: ".count)) }, "\(taken)")
        #expect(FileManager.default.fileExists(atPath: kept + "/_metadata"))
        #expect(first.isRunning, "a savepoint must not stop the job")

        // Stop with a savepoint: the job exits 0 and the path is printed.
        Thread.sleep(forTimeInterval: 2)
        let stopped = try scenario.sluiceOutput(["stop", "--status-url", firstURL])
        let savepoint = try #require(stopped.first { $0.hasPrefix("savepoint: ") }.map { String($0.dropFirst("savepoint: ".count)) }, "\(stopped)")
        #expect(first.waitForExit(timeout: 30) == 0, "the job should end after sluice stop")
        let afterStop = try scenario.verdict(windows: windows)
        #expect(afterStop.duplicated.isEmpty && afterStop.wrongCounts.isEmpty, "\(afterStop)")

        // `sluice checkpoints` lists both savepoints as valid, with parallelism 2.
        let listing = try scenario.sluiceOutput(["checkpoints", scenario.checkpointDirectory])
        for path in [kept, savepoint] {
            let row = listing.first { $0.hasSuffix(path) }
            #expect(row?.contains("savepoint") == true && row?.contains("valid") == true && row?.contains("INVALID") == false,
                    "\(path) not listed as a valid savepoint:\n\(listing.joined(separator: "\n"))")
        }
        #expect(listing.contains { $0.contains("checkpoint") && $0.contains("/chk-") }, "no checkpoints listed:\n\(listing.joined(separator: "\n"))")

        // Resume with parallelism 3 on the 3 partitions; the output ends exact.
        let second = try run(parallelism: 3, from: savepoint)
        let secondURL = try scenario.statusURL(of: second)
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 90)
        #expect(verdict.isExact, "\(verdict)")
        let report = try StatusClient(baseURL: secondURL, timeoutSeconds: 10).status()
        #expect(report.status.phase == .running)
        #expect(Set(report.lag.map(\.partition)).count == 3, "lag should be reported for the 3 partitions: \(report.lag)")
        second.terminate(timeout: 10)
        #expect(try scenario.verdict(windows: windows).isExact)
    }

    @Test func statusOfAJobThatIsNotThereSaysWhatToCheck() throws {
        let run = try ChildProcess(executable: try BuiltProducts.path(of: "sluice"), arguments: ["status", "--status-url", "http://127.0.0.1:9"])
        #expect(run.waitForExit(timeout: 30) != 0)
        #expect(run.outputLines.contains { $0.contains("is the job running with --status-port") }, "\(run.outputLines)")
    }
}
