import ArgumentParser
import Foundation
import SluiceClickCount
import SluiceApp
import SluiceKafka
import SluiceKafkaWire

/// `--workers-counts 1,2,3`: worker counts of the workers phase.
struct WorkerCounts: ExpressibleByArgument {
    var values: [Int]

    init(_ values: [Int]) { self.values = values }

    init?(argument: String) {
        let parsed = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
        // Each count once, in the order given.
        var seen: Set<Int> = []
        values = parsed.compactMap { $0 }.filter { seen.insert($0).inserted }
    }

    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

/// The job a contender of the workers phase runs: the pass-through (`pass-through-job`, its hop a
/// keyBy on each record, `--key-by-record`) or the click count (its hop the keyBy on the page).
enum WorkersJob: String, CaseIterable, Sendable {
    case passThrough = "pass-through"
    case clickCount = "click-count"
}

/// One contender of the workers phase: a job as `workers` processes, its keyBy inside the process
/// (`hop` false, one process only; for the pass-through: no keyBy at all) or through the
/// repartition topic.
struct WorkersContender {
    let job: WorkersJob
    let workers: Int
    let hop: Bool
    let letter: String

    /// Key groups, and so partitions of the repartition topic; the most workers the phase can run.
    static let maxParallelism = 12

    var key: String { job.rawValue + "-" + (workers == 1 ? (hop ? "one-process-hop" : "one-process") : "\(workers)-workers") }

    var label: String {
        let plain = job == .passThrough ? "no keyBy" : "keyBy inside the process"
        let shape = workers == 1 ? "1 process, " + (hop ? "keyBy through the repartition topic" : plain) : "\(workers) workers"
        return "(\(letter)) \(job.rawValue), \(shape)"
    }

    /// Per job, for a count of 1 the same process twice, without and with the hop (what the hop
    /// costs alone); every other count crosses workers, so it always has the hop.
    static func all(jobs: [WorkersJob], counts: [Int]) -> [WorkersContender] {
        let shapes = jobs.flatMap { job in counts.flatMap { $0 == 1 ? [(job, 1, false), (job, 1, true)] : [(job, $0, true)] } }
        return shapes.enumerated().map { offset, shape in
            WorkersContender(job: shape.0, workers: shape.1, hop: shape.2, letter: String(UnicodeScalar(UInt8(97 + offset % 26))))
        }
    }

    /// Worker `index`'s options beyond the job's own: one subtask per operator, so the workers are
    /// what scales. Workers share the checkpoint folder and transactional-id prefix (the job
    /// derives each worker's own from them).
    /// The click count gets a long idleness: the latency phase pauses its input (while it waits for
    /// the first window), and a worker whose source turned idle then active again could see its
    /// first records dropped as late, because the other workers' event time ran on meanwhile
    /// (Flink's idleness semantics; in one process the splits move in step, across workers they do not).
    func arguments(index: Int, topicPrefix: String) -> [String] {
        ["--workers", "\(workers)", "--worker-index", "\(index)", "--max-parallelism", "\(Self.maxParallelism)", "-p", "1"]
            + (job == .clickCount ? ["--idleness-ms", "60000"] : [])
            + (job == .passThrough && hop ? ["--key-by-record"] : [])
            + (hop ? ["--exchange-keyed-streams", "--repartition-topic-prefix", topicPrefix] : [])
    }
}

/// The figures of one contender of the workers phase.
struct WorkersResult {
    let contender: WorkersContender
    /// Records/s, CPU and broker CPU (summed over the workers), window latency, verdict.
    var figures: ContenderResult

    init(_ contender: WorkersContender, events: Int) {
        self.contender = contender
        figures = ContenderResult(key: contender.key, label: contender.label, events: events)
    }

    var isExact: Bool { figures.verdict == "EXACT" && figures.failure == nil }

    var line: String {
        "RESULT-WORKERS contender=\(contender.key) job=\(contender.job.rawValue) workers=\(contender.workers) hop=\(contender.hop ? "yes" : "no") "
            + "records_per_s=\(Report.fmt(figures.recordsPerSecond, "%.0f")) seconds=\(Report.fmt(figures.seconds, "%.2f")) "
            + "cpu_s=\(Report.fmt(figures.cpuSeconds, "%.2f")) broker_cpu_s=\(Report.fmt(figures.brokerCPUSeconds, "%.2f")) "
            + "p50_ms=\(Report.fmt(figures.latencyP50, "%.0f")) p99_ms=\(Report.fmt(figures.latencyP99, "%.0f")) "
            + "latency_samples=\(figures.latencySamples) verdict=\"\(figures.verdict)\""
    }
}

extension Bench {
    /// The workers phase: for each contender, the throughput on a backlog of `events` events (at
    /// least; whole windows) and its latency for `seconds` of live input: per record at `recordRate`
    /// for the pass-through, per window at `windowRate` for the click count.
    func workers(
        events: Int, jobs: [WorkersJob], counts: [Int], recordRate: Double, windowRate: Double, seconds: Double
    ) -> [WorkersResult] {
        let windows = ClickInput.windows(forAtLeast: events)
        let total = ClickInput.eventCount(windows: windows)
        // 3 partitions, so each of 3 workers owns one; more when a count is higher, so no worker idles.
        let partitions = Int32(max(3, counts.max() ?? 1))
        var results: [WorkersResult] = []
        for contender in WorkersContender.all(jobs: jobs, counts: counts) {
            say("\n== \(contender.label)")
            var result = WorkersResult(contender, events: total)
            result.figures = workersThroughput(contender, partitions: partitions, events: total, windows: windows)
            if result.figures.failure == nil {
                let name = "workers-\(contender.key)"
                let start = { (input: String, output: String) in
                    try startWorkers(contender, input: input, output: output, tag: "lat-\(name)")
                }
                switch contender.job {
                case .clickCount:
                    windowLatency(name: name, partitions: partitions, pollCommitted: true, rate: windowRate, seconds: seconds,
                                  into: &result.figures, start: start)
                case .passThrough:
                    // Workers that start together go live within moments of each other: 2 s of live
                    // input before the measured part keep the last one's startup out of the figures.
                    recordLatency(name: name, partitions: partitions, outputPartitions: Int32(WorkersContender.maxParallelism),
                                  rate: recordRate, seconds: seconds, warmupSeconds: 2,
                                  into: &result.figures, start: start)
                }
            }
            if let failure = result.figures.failure { say("FAILED workers \(contender.key): \(failure)") }
            say(result.line)
            results.append(result)
        }
        return results
    }

    /// Records/s from the workers' start until the read_committed output is complete, the workers'
    /// CPU summed, then the transaction-aware check of the output.
    func workersThroughput(_ contender: WorkersContender, partitions: Int32, events: Int, windows: Int) -> ContenderResult {
        var result = ContenderResult(key: contender.key, label: contender.label, events: events)
        let input = "bench-workers-in-\(contender.key)-\(runId)"
        let output = "bench-workers-out-\(contender.key)-\(runId)"
        let expected = contender.job == .passThrough ? events : windows * ClickEventSequence.pages.count
        do {
            try createTopic(input, partitions: partitions)
            // The pass-through writes each record to its input partition, or with the hop to its key group's.
            try createTopic(output, partitions: contender.job == .passThrough ? Int32(WorkersContender.maxParallelism) : 2)
            let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: partitions, clientProperties: clientProperties)
            try generator.write(from: 0, count: events)
            generator.close()
            // The click count's workers share its 2 output partitions: its few thousand results are
            // watched by the transaction-aware poller (see CommittedOutputPoller); the pass-through's
            // millions, written one writer per partition, by a read_committed consumer.
            let watcher: any OutputProgress = contender.job == .clickCount
                ? try CommittedOutputPoller(bootstrap: bootstrap, connection: connection, topic: output, partitions: 2, target: expected)
                : try OutputWatcher(bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, clientProperties: clientProperties)
            defer { watcher.stop() }
            let brokerBefore = brokerCPU()
            let jobs = try startWorkers(contender, input: input, output: output, tag: "workers-\(contender.key)")
            defer { jobs.forEach { $0.kill() } }
            // With --profile, the first worker's (the others run the same code).
            let profiler = startProfiler(of: jobs[0], name: "workers-\(contender.key)")
            let reached = watcher.waitForTarget(timeout: timeout) { !jobs.allSatisfy(\.isRunning) }
            // Read before the kill: /proc forgets a process once it is reaped.
            let cpu = jobs.compactMap(\.usage).map(\.cpuSeconds).reduce(0, +)
            stopProfiler(profiler, name: "workers-\(contender.key)")
            let brokerAfter = brokerCPU()
            jobs.forEach { $0.kill() }
            guard let reached else {
                let tails = jobs.enumerated().map { "worker \($0.offset):\n\($0.element.logTail())" }.joined(separator: "\n")
                result.failure = "output incomplete (\(watcher.count) of \(expected) records); log tails:\n\(tails)"
                result.verdict = "FAILED"
                return result
            }
            // From the first worker's start: they are spawned one after another within milliseconds.
            result.seconds = (reached - jobs[0].started) / .seconds(1)
            result.cpuSeconds = cpu
            if let brokerAfter, let brokerBefore { result.brokerCPUSeconds = brokerAfter - brokerBefore }
            // Transaction-aware checks that throw when the output is not exact.
            switch contender.job {
            case .clickCount: _ = try verify(.clickCount, topic: output, expected: expected, windows: windows)
            case .passThrough:
                try verifyCopy(of: events, inputPartitions: partitions, byKeyGroup: contender.hop, topic: output, name: contender.key)
            }
            result.verdict = "EXACT"
        } catch BenchError.verificationFailed(let name, let detail) {
            result.failure = "the output of \(name) is wrong: \(detail)"
            result.verdict = "NOT EXACT"
        } catch {
            result.failure = "\(error)"
            result.verdict = "FAILED"
        }
        return result
    }

    /// The pass-through's oracle: per partition, the committed output (transaction-aware) holds
    /// exactly the click events `ClickInput` wrote, each once, where the job puts them: in their input
    /// partition, or (`byKeyGroup`, the job's --key-by-record) in the partition of their key group
    /// (the value is the key; the output has one partition per key group). It compares the count and
    /// an order-independent fingerprint (the wrapping sum of the values' hashes) with the input's, so
    /// a lost record cannot hide behind a repeated one.
    func verifyCopy(of events: Int, inputPartitions: Int32, byKeyGroup: Bool, topic: String, name: String) throws {
        let outputPartitions = WorkersContender.maxParallelism
        var expected = [(count: Int, fingerprint: UInt64)](repeating: (0, 0), count: outputPartitions)
        for index in 0..<events {
            let value = ClickEventSequence.event(at: Int64(index)).jsonBytes()
            let partition = byKeyGroup
                ? KeyGroups.keyGroup(for: value, maxParallelism: WorkersContender.maxParallelism)
                : index % Int(inputPartitions)
            expected[partition].count += 1
            expected[partition].fingerprint &+= Self.fingerprint(value)
        }
        let reader = try TransactionAwareLogReader(bootstrap: bootstrap, connection: connection)
        var wrong: [String] = []
        for partition in 0..<outputPartitions {
            let records = try reader.readPartition(TopicPartition(topic, Int32(partition))).committedRecordsBelowLastStableOffset
            let fingerprint = records.reduce(UInt64(0)) { $0 &+ Self.fingerprint($1.value ?? []) }
            if records.count != expected[partition].count || fingerprint != expected[partition].fingerprint {
                wrong.append("partition \(partition): \(records.count) committed records, expected \(expected[partition].count)"
                    + (records.count == expected[partition].count ? " (as many, but not the same: some lost, others repeated or misplaced)" : ""))
            }
        }
        guard wrong.isEmpty else { throw BenchError.verificationFailed(name: name, detail: wrong.joined(separator: "; ")) }
    }

    /// A value's hash, stable within this process (`Hasher` is seeded per process; both sides of
    /// the comparison are computed here).
    static func fingerprint(_ bytes: [UInt8]) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    /// The contender's command line, without the worker options.
    func workersCommand(_ contender: WorkersContender, input: String, output: String, tag: String) -> (String, [String]) {
        switch contender.job {
        case .clickCount:
            return command(.clickCount, input: input, output: output, tag: tag)
        case .passThrough:
            // Exactly-once with 1 s checkpoints (the job's defaults), held back as the click count is by default.
            return (binDir + "/pass-through-job", [
                "--bootstrap", bootstrap, "--input-topic", input, "--output-topic", output, "--hold-back-while-commit-pending",
                "--checkpoint-dir", "\(work)/\(tag)-checkpoints", "--transactional-id-prefix", "bench-\(tag)-\(runId)",
            ] + ClientConfigOptions.arguments(for: clientProperties))
        }
    }

    /// Starts the contender's workers together, each with its own `--worker-index` and log
    /// (`<work>/<tag>-w<i>.log`); with the hop, on a repartition topic of its own
    /// (`--repartition-topic-prefix`), so no run reads what an earlier one left.
    func startWorkers(_ contender: WorkersContender, input: String, output: String, tag: String) throws -> [MeasuredProcess] {
        let (executable, arguments) = workersCommand(contender, input: input, output: output, tag: tag)
        var jobs: [MeasuredProcess] = []
        do {
            for index in 0..<contender.workers {
                jobs.append(try MeasuredProcess(
                    name: "\(tag)-w\(index)", executable: executable, arguments: arguments + contender.arguments(index: index, topicPrefix: "bench-\(tag)-\(runId)"),
                    logPath: "\(work)/\(tag)-w\(index).log"))
            }
        } catch {
            // No worker of a half-started contender may outlive it.
            jobs.forEach { $0.kill() }
            throw error
        }
        return jobs
    }
}
