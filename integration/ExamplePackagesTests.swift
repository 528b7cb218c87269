import Foundation
import SluiceOps
import SluiceTestKit
import Testing

/// The example jobs in Examples/, each a package of its own that depends on Sluice by path, built
/// as a user's clone would (`swift build` in its folder, its own build folder, no PKG_CONFIG_PATH:
/// scripts/setup.sh installed librdkafka where pkg-config looks by default), then run under
/// `sluice inject` (crash points counted per run, then random SIGKILLs) against the embedded
/// broker, with the output checked line by line against the expectation its data generator wrote.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct ExamplePackagesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    final class ExampleRun {
        let name: String
        let folder: String
        let broker: EmbeddedBroker
        let work: String
        private var processes = 0

        init(_ name: String, topics: [String]) throws {
            self.name = name
            folder = ExamplePackagesTests.repository + "/Examples/" + name
            work = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-example-\(name)-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: work + "/logs", withIntermediateDirectories: true)
            broker = try EmbeddedBroker.start()
            for topic in topics { try broker.createTopic(topic, partitions: 2, configs: ["retention.ms": "-1", "retention.bytes": "-1"]) }
        }

        /// Runs a program to its end (at most `timeout` seconds); records an issue when it fails.
        @discardableResult
        func run(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> [String] {
            let process = try start(executable, arguments)
            let status = process.waitForExit(timeout: timeout)
            if status == nil { process.kill() }
            #expect(status == 0, "\(executable) \(arguments.prefix(3)) failed:\n\(process.outputLines.suffix(25).joined(separator: "\n"))")
            return process.outputLines
        }

        func start(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
            processes += 1
            return try ChildProcess(executable: executable, arguments: arguments, logPath: "\(work)/logs/\(name)-\(processes).log")
        }

        /// `swift build` in the example's folder, as a user would: its own build folder, and no
        /// PKG_CONFIG_PATH (the tests' environment has the project's). Returns the job's executable.
        func buildJob() throws -> String {
            let scratch = folder + "/.build"
            try run("/usr/bin/env", ["-u", "PKG_CONFIG_PATH", "swift", "build", "--package-path", folder, "--scratch-path", scratch],
                    timeout: 1500)
            return scratch + "/debug/" + name
        }

        func sluice(_ arguments: [String]) throws -> ChildProcess { try start(try BuiltProducts.path(of: "sluice"), arguments) }

        func produce(_ topic: String, file: String, rate: Int) throws -> ChildProcess {
            try sluice(["produce", "--bootstrap", broker.bootstrap, "--topic", topic, "--file", "\(work)/\(file)", "--rate", String(rate)])
        }

        /// `sluice inject` over the job; returns its output after checking it said EXACT.
        func inject(job: [String], outputTopics: [String], crashPoints: [String], kills: Int) throws -> [String] {
            var arguments = ["inject", "--bootstrap", broker.bootstrap, "--expect-file", work + "/expected.txt",
                             "--kills", String(kills), "--min-interval", "1", "--max-interval", "2.5", "--settle-timeout", "90",
                             "--log-dir", work + "/logs"]
            for topic in outputTopics { arguments += ["--output-topic", topic] }
            for point in crashPoints { arguments += ["--crash-point", point] }
            let jobArguments = ["--bootstrap", broker.bootstrap, "--checkpoint-dir", work + "/checkpoints", "--transactional-id-prefix", name + "-inject", "--restart-strategy", "none", "--hold-back-while-commit-pending"]
            let run = try sluice(arguments + ["--"] + job + jobArguments)
            let status = run.waitForExit(timeout: 400)
            if status == nil { run.kill() }
            let output = run.outputLines
            #expect(status == 0, "sluice inject failed:\n\(output.suffix(20).joined(separator: "\n"))")
            #expect(output.contains { $0.hasPrefix("EXACT") }, "\(output.suffix(10))")
            #expect(output.filter { $0.contains("killed at the crash point") }.count == crashPoints.count)
            #expect(output.filter { $0.contains("SIGKILL") && $0.contains("restarting") }.count == kills)
            print(output.filter { $0.hasPrefix("[inject]") || $0.hasPrefix("EXACT") || $0.hasPrefix("NOT") }.joined(separator: "\n"))
            return output
        }

        func tearDown() { broker.stop() }
    }

    @Test func orderPaymentJoinIsExactUnderCrashPointsAndKills() throws {
        let example = try ExampleRun("order-payment-join", topics: ["orders", "payments", "paid", "unpaid"])
        defer { example.tearDown() }
        let job = try example.buildJob()
        try example.run("/usr/bin/env", ["python3", example.folder + "/data/generate.py", "2000", example.work], timeout: 60)
        // Paced, so the input still flows through the crash runs and the kills.
        let orders = try example.produce("orders", file: "orders.jsonl", rate: 150)
        let payments = try example.produce("payments", file: "payments.jsonl", rate: 135)
        _ = try example.inject(job: [job], outputTopics: ["paid", "unpaid"],
                               crashPoints: ["afterCheckpointCompleteBeforeCommit:3", "betweenSubtaskCommits:2"], kills: 4)
        #expect(orders.waitForExit(timeout: 30) == 0)
        #expect(payments.waitForExit(timeout: 30) == 0)
    }

    /// What SluiceApp gives a job without a line of its own, run by `sluice run --job`: the status
    /// server, SIGUSR2 (a savepoint, the job goes on), -X settings, and SIGTERM: a graceful stop
    /// with exit status 0.
    @Test func aSluiceAppJobServesStatusTakesSavepointsAndStopsGracefully() throws {
        let example = try ExampleRun("order-payment-join", topics: ["orders", "payments", "paid", "unpaid"])
        defer { example.tearDown() }
        let executable = try example.buildJob()
        try example.run("/usr/bin/env", ["python3", example.folder + "/data/generate.py", "200", example.work], timeout: 60)
        #expect(try example.produce("orders", file: "orders.jsonl", rate: 0).waitForExit(timeout: 60) == 0)
        // Through `sluice run --job`, which replaces itself with the job: signals reach the job.
        let job = try example.sluice(["run", "--job", executable, "--bootstrap", example.broker.bootstrap, "-p", "2",
                                      "--checkpoint-dir", example.work + "/checkpoints", "--status-port", "0",
                                      "--", "--transactional-id-prefix", "lifecycle-test", "-X", "client.id=lifecycle-test", "--payment-timeout", "2s"])
        let line = try #require(job.waitForLine(timeout: 60) { $0.hasPrefix("status: ") }, "\(job.outputLines.suffix(10))")
        let client = StatusClient(baseURL: String(line.dropFirst("status: ".count)))
        #expect(try client.status().job == "order-payment-join")
        #expect(job.waitForLine(timeout: 30) { $0.contains("Checkpoint 1 complete") } != nil)
        kill(job.processIdentifier, SIGUSR2)
        let savepoint = job.waitForLine(timeout: 30) { $0.hasPrefix("savepoint: ") }
        #expect(savepoint != nil, "no savepoint: \(job.outputLines.suffix(10))")
        #expect(job.isRunning)
        kill(job.processIdentifier, SIGTERM)
        #expect(job.waitForExit(timeout: 30) == 0, "\(job.outputLines.suffix(10))")
        #expect(job.outputLines.contains { $0.contains("Job ended") && $0.contains("cancelled") })
    }

    @Test func statelessRouterIsExactUnderCrashPointsAndKills() throws {
        let outputs = ["events-eu", "events-us", "events-apac", "dead-letters"]
        let example = try ExampleRun("stateless-router", topics: ["events", "customers"] + outputs)
        defer { example.tearDown() }
        let job = try example.buildJob()
        try example.run("/usr/bin/env", ["python3", example.folder + "/data/generate.py", "3000", example.work], timeout: 60)
        // The reference data trickles in: early events wait for their customers.
        let customers = try example.produce("customers", file: "customers.jsonl", rate: 10)
        let events = try example.produce("events", file: "events.jsonl", rate: 200)
        _ = try example.inject(job: [job], outputTopics: outputs,
                               crashPoints: ["afterPreCommit:2", "afterCheckpointCompleteBeforeCommit:3"], kills: 4)
        #expect(customers.waitForExit(timeout: 30) == 0)
        #expect(events.waitForExit(timeout: 30) == 0)
    }
}
