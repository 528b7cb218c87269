import ArgumentParser
import Foundation
import SluiceApp
import SluiceClickCount
import SluiceKafkaWire
import SluiceEmbeddedBroker
import SluiceRuntime

/// Fault injection for users' own jobs: runs the job binary under a kill schedule — named crash
/// points of the commit protocol, then SIGKILLs at random moments — restarts it each time, and
/// checks the output topic against an expectation, as a read_committed reader sees it.
struct InjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inject",
        abstract: "Runs a job under SIGKILLs and crash points, restarts it, and verifies its output is exactly once.",
        discussion: """
            Everything after `--` is the job's command line; it must restore from its checkpoint directory when \
            restarted (Sluice jobs do).

            Crash points come first, one run each: --crash-point POINT:N arms SLUICE_CRASH_AT, which every Sluice job \
            honours, and kills that run with SIGKILL at POINT of the Nth checkpoint it takes (N counts per run, so a \
            schedule holds whatever checkpoint ids a restored job continues from). POINT is one of afterSnapshot, \
            afterPreCommit, beforeCheckpointComplete, afterCheckpointCompleteBeforeCommit, betweenSubtaskCommits or \
            afterCommit. Then --kills SIGKILLs at random moments, each followed by a restart.

            Expectation: --expect-file FILE lists the output values, one per line, each expected exactly once (order \
            free); with several --output-topic options each line is TOPIC:VALUE. Or --expect-click-count N for the \
            click-count job (N complete windows). Exits 0 with "EXACT" when the committed output (as a \
            read_committed reader sees it) matches, 1 with what is missing, duplicated or unexpected.

            Example:
              sluice inject --bootstrap 127.0.0.1:9092 --output-topic output \\
                --expect-click-count 10 --kills 5 \\
                --crash-point afterCheckpointCompleteBeforeCommit:3 -- \\
                .build/debug/click-count-job --checkpointing --event-time \\
                --checkpoint-dir /tmp/chk --transactional-id-prefix clicks-inject
            """)

    @OptionGroup var kafka: BootstrapOption
    @OptionGroup var client: ClientConfigOptions
    @Option(help: "A topic the job writes (repeatable: with several, expected lines are TOPIC:VALUE).")
    var outputTopic: [String] = []
    @Option(help: "A file of expected output values, one per line, each exactly once.") var expectFile: String?
    @Option(help: "Expect the click-count job's output for this many complete windows.") var expectClickCount: Int?
    @Option(help: "SIGKILLs at random moments, each followed by a restart.") var kills = 5
    @Option(help: "Shortest wait before a kill, in seconds.") var minInterval = 1.0
    @Option(help: "Longest wait before a kill, in seconds.") var maxInterval = 3.5
    @Option(help: "Seed of the kill schedule (printed; reuse it to replay a run).") var seed: UInt64?
    @Option(help: "A crash point as POINT:N, the Nth checkpoint of the run (repeatable); each is one run that must crash there.")
    var crashPoint: [String] = []
    @Option(help: "Seconds to wait for the output to become exact after the last restart.") var settleTimeout = 120.0
    @Option(help: "Folder for the job's logs (default: a new temporary folder).") var logDir: String?
    @Argument(parsing: .postTerminator, help: "The job's command line, after --.") var jobCommand: [String] = []

    func validate() throws {
        guard !jobCommand.isEmpty else { throw ValidationError("Give the job's command line after --.") }
        guard !outputTopic.isEmpty else { throw ValidationError("Give the job's output topic: --output-topic TOPIC (repeatable).") }
        guard expectClickCount == nil || outputTopic.count == 1 else {
            throw ValidationError("--expect-click-count checks one output topic; give --output-topic once.")
        }
        for point in crashPoint {
            let parts = point.split(separator: ":")
            guard parts.count == 2, CrashPoint(rawValue: String(parts[0])) != nil, let n = Int(parts[1]), n >= 1 else {
                throw ValidationError("--crash-point \(point) is not POINT:N with N >= 1 (the Nth checkpoint of the run) and POINT one of "
                    + CrashPoint.allCases.map(\.rawValue).joined(separator: ", ") + ".")
            }
        }
        guard (expectFile != nil) != (expectClickCount != nil) else {
            throw ValidationError("Give exactly one expectation: --expect-file FILE or --expect-click-count N.")
        }
        guard minInterval > 0, maxInterval >= minInterval else { throw ValidationError("Need 0 < --min-interval <= --max-interval.") }
    }

    func run() throws {
        let bootstrap = try kafka.resolved()
        let connection = try client.connectionOptions()  // refuses unsupported security before the first run
        let expectation = try Expectation(file: expectFile, clickCountWindows: expectClickCount)
        let logs = logDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("sluice-inject-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var random = SplitMix64(seed: seed ?? UInt64.random(in: 1...UInt64.max))
        say("seed \(random.seed) (replay with --seed \(random.seed)); job logs in \(logs)")

        var starts = 0
        func start(_ environment: [String: String] = [:]) throws -> ChildProcess {
            starts += 1
            return try ChildProcess(executable: jobCommand[0], arguments: Array(jobCommand.dropFirst()),
                                    environment: environment, logPath: "\(logs)/job-\(starts).log")
        }

        for point in crashPoint {
            say("run \(starts + 1): armed crash point \(point)")
            let job = try start(["SLUICE_CRASH_AT": point])
            guard let status = job.waitForExit(timeout: 120) else {
                job.kill()
                say("the job did not crash at \(point) within 120 s (does it take that many checkpoints in a run? does it honour SLUICE_CRASH_AT?)")
                throw ExitCode(1)
            }
            let crashed = job.outputLines.contains { $0.contains("crash point") }
            say("  exited with status \(status)" + (crashed ? ", killed at the crash point" : " WITHOUT reaching the crash point"))
            if !crashed { throw ExitCode(1) }
        }

        var job = try start()
        for kill in 0..<kills {
            let wait = Double.random(in: minInterval...maxInterval, using: &random)
            Thread.sleep(forTimeInterval: wait)
            if !job.isRunning {
                say("the job exited on its own before kill \(kill + 1); its last lines:\n" + job.outputLines.suffix(8).joined(separator: "\n"))
                throw ExitCode(1)
            }
            job.kill()
            say("SIGKILL \(kill + 1)/\(kills) after \(String(format: "%.2f", wait)) s; restarting")
            job = try start()
        }
        defer { job.kill() }

        let reader = try TransactionAwareLogReader(bootstrap: bootstrap, connection: connection)
        let deadline = Date().addingTimeInterval(settleTimeout)
        var verdict = expectation.check(try committedValues(reader))
        while !verdict.isExact && !verdict.isHopeless && Date() < deadline && job.isRunning {
            Thread.sleep(forTimeInterval: 1)
            verdict = expectation.check(try committedValues(reader))
        }
        // Stop the job and look once more: nothing may appear after the output was exact.
        job.terminate(timeout: 15)
        verdict = expectation.check(try committedValues(reader))
        say("job starts: \(starts)")
        print(verdict.text)
        if !verdict.isExact { throw ExitCode(1) }
    }

    /// The committed values of the output topic, or of every output topic as TOPIC:VALUE.
    private func committedValues(_ reader: TransactionAwareLogReader) throws -> [[UInt8]] {
        if outputTopic.count == 1 { return try reader.readTopic(outputTopic[0]).committedRecords.compactMap(\.value) }
        return try outputTopic.flatMap { topic in
            try reader.readTopic(topic).committedRecords.compactMap(\.value).map { Array("\(topic):".utf8) + $0 }
        }
    }

    private func say(_ line: String) {
        print("[inject] " + line)
        fflush(nil)  // progress is read live, often through a pipe
    }
}

/// What the output must be.
struct Expectation {
    struct Verdict {
        let isExact: Bool
        /// Duplicates or unexpected values: waiting cannot mend them.
        let isHopeless: Bool
        let text: String
    }

    private let expectedValues: [String: Int]?
    private let clickCountWindows: Int?

    init(file: String?, clickCountWindows: Int?) throws {
        self.clickCountWindows = clickCountWindows
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("Cannot read the expectation file \(file).")
            }
            var counts: [String: Int] = [:]
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) { counts[String(line), default: 0] += 1 }
            expectedValues = counts
        } else {
            expectedValues = nil
        }
    }

    func check(_ values: [[UInt8]]) -> Verdict {
        if let windows = clickCountWindows {
            let verdict = ClickCountVerdict(outputValues: values, windows: windows)
            let hopeless = !verdict.duplicated.isEmpty || !verdict.wrongCounts.isEmpty || !verdict.unexpected.isEmpty
            return Verdict(isExact: verdict.isExact, isHopeless: hopeless, text: verdict.description)
        }
        let expected = expectedValues ?? [:]
        var seen: [String: Int] = [:]
        for value in values { seen[String(decoding: value, as: UTF8.self), default: 0] += 1 }
        let missing = expected.filter { (seen[$0.key] ?? 0) < $0.value }.map(\.key).sorted()
        let duplicated = seen.filter { expected[$0.key] != nil && $0.value > (expected[$0.key] ?? 0) }.map(\.key).sorted()
        let unexpected = seen.keys.filter { expected[$0] == nil }.sorted()
        let exact = missing.isEmpty && duplicated.isEmpty && unexpected.isEmpty
        func show(_ list: [String]) -> String { list.prefix(10).joined(separator: ", ") + (list.count > 10 ? " and \(list.count - 10) more" : "") }
        var lines = [exact ? "EXACT: all \(expected.values.reduce(0, +)) expected values, each exactly once"
                           : "NOT EXACT (\(values.count) committed values):"]
        if !missing.isEmpty { lines.append("  missing \(missing.count): \(show(missing))") }
        if !duplicated.isEmpty { lines.append("  duplicated \(duplicated.count): \(show(duplicated))") }
        if !unexpected.isEmpty { lines.append("  unexpected \(unexpected.count): \(show(unexpected))") }
        return Verdict(isExact: exact, isHopeless: !duplicated.isEmpty || !unexpected.isEmpty, text: lines.joined(separator: "\n"))
    }
}
