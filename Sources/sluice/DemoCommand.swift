import ArgumentParser
import Foundation
import SluiceApp
import SluiceClickCount
import SluiceKafka
import SluiceKafkaWire
import SluiceOps
import SluiceEmbeddedBroker
import SluiceRuntime

/// The click-count playground end to end: broker, topics, generator, the exactly-once job, one
/// SIGKILL and restart in the middle, a live table of windows, and the exactness check at the end.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Runs the click-count playground end to end, with a crash in the middle.",
        discussion: """
            Uses the embedded broker unless KAFKA_BOOTSTRAP (or --bootstrap) names one. The generator writes \
            --windows complete 15 s windows; the job counts them exactly once; halfway through, the job is killed \
            with SIGKILL and restarted from its checkpoints. Exits 0 when every window of every page is in the \
            committed output exactly once with count 1000. The live table shows the latest windows, the last \
            completed checkpoint, the lag and the time backpressured (from the job's /status); below it, the \
            address of the job's web page ("web view:"), which the restarted job keeps serving at, so the kill \
            and the recovery can be watched there too.

            The playground's flags: --no-checkpointing runs the job without checkpoints (so at least once: after \
            the kill it starts over and windows appear twice); --no-event-time counts in processing-time windows \
            (counts depend on timing, not on the events); --backpressure adds the operator that sleeps 100 ms per \
            event in even minutes (the table shows the time backpressured; checkpoints still complete). Only the \
            default (checkpointing and event time) promises exact output, and only it fails when it is not.
            """)

    @OptionGroup var kafka: DemoBootstrapOption
    @OptionGroup var client: ClientConfigOptions
    @Option(help: "Folder holding click-generator and click-count-job (default: next to this program).") var binDir: String?
    @Option(help: "Complete windows to generate (6000 events each).") var windows = 8
    @Option(help: "Generator pace in events per second (the playground's is 500).") var rate = 4000
    @Option(name: [.short, .long], help: "Parallelism of the job.") var parallelism = 2
    @Option(help: "Partitions of the input and output topics.") var partitions = 2
    @Flag(help: "Do not kill the job halfway.") var noKill = false
    @Flag(inversion: .prefixedNo, help: "Checkpoint every second (exactly-once output); without: at least once, no restore.")
    var checkpointing = true
    @Flag(inversion: .prefixedNo, help: "Event-time windows; without: processing-time windows.") var eventTime = true
    @Flag(help: "Add the playground's backpressure operator (100 ms per event in even minutes).") var backpressure = false
    @Option(help: "Where checkpoints and logs go (default: a new temporary folder).") var workDir: String?
    @Option(help: "Give up after this many seconds.") var timeout: Double = 240

    func run() throws {
        let connection = try client.connectionOptions()  // refuses unsupported security before anything starts
        let bins = try binDir ?? Self.ownFolder()
        let generatorPath = bins + "/click-generator"
        let jobPath = bins + "/click-count-job"
        for path in [generatorPath, jobPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw ValidationError("\(path) is missing: build it (scripts/demo.sh does) or pass --bin-dir.")
        }
        let work = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("sluice-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work + "/checkpoints", withIntermediateDirectories: true)

        say("Starting the broker...")
        let broker = try EmbeddedBroker.start(environment: kafka.environment())
        defer { broker.stop() }
        let runId = String(UUID().uuidString.prefix(6)).lowercased()
        let input = broker.isEmbedded ? "input" : "input-\(runId)"
        let output = broker.isEmbedded ? "output" : "output-\(runId)"
        try createTopics([input, output], broker: broker)
        say("Broker \(broker.bootstrap) (\(broker.isEmbedded ? "embedded Tansu, in memory" : "external")); topics \(input), \(output) with \(partitions) partitions.")
        say("Checkpoints and logs: \(work)")

        let generator = try ChildProcess(
            executable: generatorPath,
            arguments: ["--bootstrap", broker.bootstrap, "--topic", input, "--windows", String(windows), "--rate", String(rate)]
                + client.childArguments,
            logPath: work + "/generator.log")
        defer { generator.kill() }
        var starts = 0
        var statusClient: StatusClient?
        // The first start picks a free port; restarts keep it, so the web page stays at one address.
        var statusPort = 0
        var pageAddress: String?
        func startJob() throws -> ChildProcess {
            starts += 1
            var arguments = [
                "--bootstrap", broker.bootstrap, "--input-topic", input, "--output-topic", output,
                "--parallelism", String(parallelism), "--checkpoint-dir", work + "/checkpoints",
                "--transactional-id-prefix", "demo-\(runId)", "--status-port", String(statusPort),
            ]
            arguments += checkpointing ? ["--checkpointing"] : ["--delivery-guarantee", "atLeastOnce"]
            if eventTime { arguments.append("--event-time") }
            if backpressure { arguments.append("--backpressure") }
            arguments += client.childArguments
            let process = try ChildProcess(executable: jobPath, arguments: arguments, logPath: work + "/job-\(starts).log")
            let statusURL = process.waitForLine(timeout: 30) { $0.hasPrefix("status: ") }.map { String($0.dropFirst("status: ".count)) }
            statusClient = statusURL.map { StatusClient(baseURL: $0, timeoutSeconds: 2) }
            if let statusURL, let port = URL(string: statusURL)?.port {
                statusPort = port
                pageAddress = String(statusURL.dropLast("status".count))
            }
            return process
        }
        var job = try startJob()
        defer { job.kill() }
        say("Generator and job started (\(windows) windows x 6 pages, \(rate) events/s, parallelism \(parallelism)).")
        if let pageAddress { say("Web view: \(pageAddress) (job graph, checkpoints, lag; watch the kill and the recovery there)") }

        let reader = try TransactionAwareLogReader(bootstrap: broker.bootstrap, connection: connection)
        let started = Date()
        var killed = noKill
        var verdict = ClickCountVerdict(outputValues: [], windows: windows)
        var lastTable = ""
        let promisesExact = checkpointing && eventTime
        var lastGrowth = Date()
        var lastCount = 0
        while Date().timeIntervalSince(started) < timeout {
            Thread.sleep(forTimeInterval: 1)
            let log = try reader.readTopic(output)
            let values = log.committedRecords.compactMap(\.value)
            verdict = ClickCountVerdict(outputValues: values, windows: windows)
            if values.count != lastCount {
                lastCount = values.count
                lastGrowth = Date()
            }
            let table = Self.table(values, status: try? statusClient?.status(), open: log.transactions.filter { $0.state == .open }.count,
                                   page: pageAddress)
            if table != lastTable {
                print(table)
                lastTable = table
            }
            if !killed && verdict.recordsSeen >= windows * 3 {
                killed = true
                say("Killing the job with SIGKILL (no shutdown, open transactions left behind)...")
                job.kill()
                job = try startJob()
                say("Job restarted: it restores the last completed checkpoint and commits what that checkpoint promised.")
            }
            if !job.isRunning {
                say("The job exited; its last lines:\n" + job.outputLines.suffix(8).joined(separator: "\n"))
                break
            }
            if verdict.isExact && !generator.isRunning { break }
            // Without the exactly-once setup the output never becomes exact: stop once it stops growing.
            if !promisesExact && !generator.isRunning && Date().timeIntervalSince(lastGrowth) > 20 { break }
        }
        job.terminate(timeout: 10)
        let final = ClickCountVerdict(outputValues: try reader.readTopic(output).committedRecords.compactMap(\.value), windows: windows)
        say(final.description)
        say("Job starts: \(starts). Logs: \(work)")
        if !promisesExact {
            say(checkpointing
                ? "Processing-time windows count what arrived in each 15 s of wall time, so counts other than 1000 are expected."
                : "Without checkpoints the restarted job started over from the earliest offsets: duplicated windows are expected (at least once).")
            return
        }
        if !final.isExact { throw ExitCode(1) }
    }

    private func say(_ line: String) {
        print("[demo] " + line)
        fflush(nil)  // the demo's output is read live, often through a pipe
    }

    private func createTopics(_ names: [String], broker: EmbeddedBroker) throws {
        if broker.isEmbedded {
            for name in names {
                try broker.createTopic(name, partitions: partitions, configs: ["retention.ms": "-1", "retention.bytes": "-1"])
            }
            return
        }
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrap, try client.resolved()))
        defer { admin.close() }
        try admin.createTopics(names.map { NewTopic(name: $0, partitions: Int32(partitions)) })
    }

    /// The folder of this executable, also when it was started through PATH (argv[0] is then a bare name).
    static func ownFolder() throws -> String {
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return executable.resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    /// The latest windows as a table: one row per window, one column per page; then the job's
    /// checkpoint progress, lag and time backpressured from its /status.
    static func table(_ values: [[UInt8]], status report: JobStatusReport?, open: Int, page: String? = nil) -> String {
        var counts: [Int64: [String: [Int64]]] = [:]
        for value in values {
            guard let stats = ClickEventStatistics.decode(value) else { continue }
            counts[stats.windowStart, default: [:]][stats.page, default: []].append(stats.count)
        }
        let pages = ClickEventSequence.pages
        var lines = ["window start              " + pages.map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined()]
        for start in counts.keys.sorted().suffix(6) {
            let cells = pages.map { page -> String in
                let entries = counts[start]?[page] ?? []
                let text = entries.isEmpty ? "-" : entries.map(String.init).joined(separator: "+")
                return text.padding(toLength: 10, withPad: " ", startingAt: 0)
            }
            lines.append(PlaygroundTimestamp.format(millisecondsSinceEpoch: start) + "   " + cells.joined())
        }
        lines.append("committed windows: \(counts.count), open transactions: \(open)")
        if let report {
            let status = report.status
            let checkpoint = status.lastCompletedCheckpoint.map { id in
                "checkpoint \(id) (\(status.lastCheckpointDurationMillis.map { "\($0) ms" } ?? "?"), "
                    + "\(status.lastCheckpointBytes.map(CheckpointsCommand.byteCount) ?? "?"))"
            } ?? "no checkpoint yet"
            lines.append("job \(status.phase.rawValue), \(checkpoint), lag \(report.totalLag) records, "
                + "backpressured \(report.backpressuredSecondsText) s")
        } else {
            lines.append("job status: not available (starting or restarting)")
        }
        if let page { lines.append("web view: \(page)") }
        return lines.joined(separator: "\n")
    }
}

/// `--bootstrap` or KAFKA_BOOTSTRAP: an external broker; neither: the embedded one.
struct DemoBootstrapOption: ParsableArguments {
    @Option(name: [.customLong("bootstrap")], help: "An external Kafka broker (host:port); default: $KAFKA_BOOTSTRAP, else the embedded broker.")
    var bootstrap: String?

    func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let bootstrap { environment["KAFKA_BOOTSTRAP"] = bootstrap }
        return environment
    }
}
