import Foundation
import SluiceClickCount
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// One click-count run against a fresh embedded broker: topics, the generator, the job (which the
/// test kills and restarts), a checkpoint directory, and the exactly-once check on the output.
final class ClickCountScenario {
    let broker: EmbeddedBroker
    /// Set when the scenario's broker keeps its data across a kill (`durable: true`).
    let durableBroker: DurableEmbeddedBroker?
    let name: String
    let inputTopic: String
    let outputTopic: String
    let checkpointDirectory: String
    let transactionalIdPrefix: String
    let logDirectory: String
    let partitions: Int
    private(set) var jobStarts = 0
    private var sluiceRuns = 0
    private(set) var job: ChildProcess?
    private(set) var generator: ChildProcess?
    /// Where clients connect: the broker, or the outermost front of a secured set-up.
    let bootstrap: String
    /// The secured set-up's client properties, given to the generator, the job (`-X`) and the reader.
    let clientProperties: [String: String]
    private let secured: SecuredBroker?

    /// `durable`: the broker keeps its data across a kill. `secured`: run against the embedded broker
    /// behind TLS / SASL fronts.
    init(_ name: String, partitions: Int = 2, durable: Bool = false, secured setup: SecuredSetup? = nil) throws {
        self.name = name
        self.partitions = partitions
        secured = try setup?.start()
        if durable {
            let durableBroker = try DurableEmbeddedBroker.start()
            self.durableBroker = durableBroker
            broker = try #require(durableBroker.broker)
        } else {
            durableBroker = nil
            broker = try secured?.broker ?? EmbeddedBroker.start()
        }
        bootstrap = secured?.bootstrap ?? broker.bootstrap
        clientProperties = try setup?.properties ?? [:]
        inputTopic = EmbeddedBroker.uniqueName("input")
        outputTopic = EmbeddedBroker.uniqueName("output")
        // Explicit configs: the embedded broker reports only configs set at creation.
        let configs = ["retention.ms": "-1", "retention.bytes": "-1"]
        try broker.createTopic(inputTopic, partitions: partitions, configs: configs)
        try broker.createTopic(outputTopic, partitions: partitions, configs: configs)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(name)-\(UUID().uuidString.prefix(8))").path
        checkpointDirectory = base + "/checkpoints"
        logDirectory = base + "/logs"
        try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        transactionalIdPrefix = EmbeddedBroker.uniqueName("click-\(name)")
    }

    /// Writes `windows` complete windows (plus a tail that closes the last one) at `rate` events/s;
    /// with `wait`, returns when all are written.
    func generate(windows: Int, rate: Int, wait: Bool) throws {
        let process = try ChildProcess(
            executable: try BuiltProducts.path(of: "click-generator"),
            arguments: ["--bootstrap", bootstrap, "--topic", inputTopic, "--windows", String(windows), "--rate", String(rate)]
                + clientArguments(clientProperties),
            logPath: logDirectory + "/generator.log")
        generator = process
        if wait {
            let status = process.waitForExit(timeout: 120)
            #expect(status == 0, "the generator failed: \(process.outputLines.suffix(5))")
        }
    }

    /// Starts the job; `environment` adds e.g. SLUICE_CRASH_AT.
    @discardableResult
    func startJob(parallelism: Int = 2, environment: [String: String] = [:], extraArguments: [String] = []) throws -> ChildProcess {
        jobStarts += 1
        let process = try ChildProcess(
            executable: try BuiltProducts.path(of: "click-count-job"),
            arguments: [
                "--bootstrap", bootstrap, "--input-topic", inputTopic, "--output-topic", outputTopic,
                "--parallelism", String(parallelism), "--checkpoint-dir", checkpointDirectory,
                "--checkpointing", "--checkpoint-interval-ms", "1000", "--event-time",
                "--transactional-id-prefix", transactionalIdPrefix, "--restart-attempts", "0",
            ] + clientArguments(clientProperties) + extraArguments,
            environment: environment,
            logPath: logDirectory + "/job-\(jobStarts).log")
        job = process
        return process
    }

    /// Runs the `sluice` CLI; its output goes to `<logs>/sluice-<n>.log`.
    func sluice(_ arguments: [String]) throws -> ChildProcess {
        sluiceRuns += 1
        return try ChildProcess(executable: try BuiltProducts.path(of: "sluice"), arguments: arguments,
                                logPath: logDirectory + "/sluice-\(sluiceRuns).log")
    }

    /// Runs a `sluice` command to its end and returns its output; records a test issue when it fails.
    @discardableResult
    func sluiceOutput(_ arguments: [String], timeout: TimeInterval = 60) throws -> [String] {
        let run = try sluice(arguments)
        let status = run.waitForExit(timeout: timeout)
        if status == nil { run.kill() }
        #expect(status == 0, "sluice \(arguments.joined(separator: " ")) failed: \(run.outputLines.suffix(10).joined(separator: "\n"))")
        return run.outputLines
    }

    /// The job's status address, from the `status: URL` line `--status-port` prints.
    func statusURL(of job: ChildProcess) throws -> String {
        let line = try #require(job.waitForLine(timeout: 30) { $0.hasPrefix("status: ") }, "no status line: \(job.outputLines.suffix(5))")
        return String(line.dropFirst("status: ".count))
    }

    /// The committed output, read as read_committed should (control markers honoured).
    func committedOutput() throws -> TopicLog {
        try TransactionAwareLogReader(bootstrap: bootstrap, connection: try wireOptions(clientProperties))
            .readTopic(outputTopic)
    }

    func verdict(windows: Int) throws -> ClickCountVerdict {
        ClickCountVerdict(outputValues: try committedOutput().committedRecords.compactMap(\.value), windows: windows)
    }

    /// Polls until the output is exact for `windows` windows or `timeout` passes; returns the last verdict.
    func waitForExactOutput(windows: Int, timeout: TimeInterval) throws -> ClickCountVerdict {
        let deadline = Date().addingTimeInterval(timeout)
        var last = try verdict(windows: windows)
        while !last.isExact && Date() < deadline {
            // Stop early on a failure no waiting can mend.
            if !last.duplicated.isEmpty || !last.wrongCounts.isEmpty || last.malformed > 0 { return last }
            Thread.sleep(forTimeInterval: 0.5)
            last = try verdict(windows: windows)
        }
        return last
    }

    /// Checkpoint ids completed so far (folders with metadata).
    func completedCheckpoints() -> [Int64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory)) ?? []
        return names.compactMap { name -> Int64? in
            guard name.hasPrefix("chk-"), FileManager.default.fileExists(atPath: checkpointDirectory + "/" + name + "/_metadata") else { return nil }
            return Int64(name.dropFirst(4))
        }.sorted()
    }

    func jobLog(_ start: Int) -> String {
        (try? String(contentsOfFile: logDirectory + "/job-\(start).log", encoding: .utf8)) ?? ""
    }

    /// Stops everything; the broker's data goes with it.
    func tearDown() {
        job?.kill()
        generator?.kill()
        secured?.stop()
        broker.stop()
        durableBroker?.stop()
    }
}

extension SplitMix64 {
    /// Seeded from SLUICE_TEST_SEED when set (to replay a failing run), else at random; tests print the seed.
    static func forTest() -> SplitMix64 {
        SplitMix64(seed: ProcessInfo.processInfo.environment["SLUICE_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max))
    }
}
