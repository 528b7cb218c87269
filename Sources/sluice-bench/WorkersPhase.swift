import ArgumentParser
import Foundation
import SluiceClickCount
import SluiceKafka

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

/// One contender of the workers phase: the click-count job as `workers` processes, its keyBy inside
/// the process (`hop` false, one process only) or through the repartition topic.
struct WorkersContender {
    let workers: Int
    let hop: Bool
    let letter: String

    /// Key groups, and so partitions of the repartition topic; the most workers the phase can run.
    static let maxParallelism = 12

    var key: String { workers == 1 ? (hop ? "one-process-hop" : "one-process") : "\(workers)-workers" }

    var label: String {
        let shape = workers == 1 ? "1 process, " + (hop ? "keyBy through the repartition topic" : "keyBy inside the process") : "\(workers) workers"
        return "(\(letter)) click-count, \(shape)"
    }

    /// For a count of 1 the same process twice, without and with the hop (what the hop costs
    /// alone); every other count crosses workers, so it always has the hop.
    static func all(counts: [Int]) -> [WorkersContender] {
        let shapes = counts.flatMap { $0 == 1 ? [(1, false), (1, true)] : [($0, true)] }
        return shapes.enumerated().map { offset, shape in
            WorkersContender(workers: shape.0, hop: shape.1, letter: String(UnicodeScalar(UInt8(97 + offset % 26))))
        }
    }

    /// Worker `index`'s options beyond the click count's own: one subtask per operator, so the
    /// workers are what scales. Workers share the checkpoint folder and transactional-id prefix
    /// (the job derives each worker's own from them).
    /// A long idleness: the latency phase pauses its input (while it waits for the first window),
    /// and a worker whose source turned idle then active again could see its first records dropped
    /// as late, because the other workers' event time ran on meanwhile (Flink's idleness semantics;
    /// in one process the splits move in step, across workers they do not).
    func arguments(index: Int, topicPrefix: String) -> [String] {
        ["--workers", "\(workers)", "--worker-index", "\(index)", "--max-parallelism", "\(Self.maxParallelism)", "-p", "1",
         "--idleness-ms", "60000"]
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
        "RESULT-WORKERS contender=\(contender.key) workers=\(contender.workers) hop=\(contender.hop ? "yes" : "no") "
            + "records_per_s=\(Report.fmt(figures.recordsPerSecond, "%.0f")) seconds=\(Report.fmt(figures.seconds, "%.2f")) "
            + "cpu_s=\(Report.fmt(figures.cpuSeconds, "%.2f")) broker_cpu_s=\(Report.fmt(figures.brokerCPUSeconds, "%.2f")) "
            + "p50_ms=\(Report.fmt(figures.latencyP50, "%.0f")) p99_ms=\(Report.fmt(figures.latencyP99, "%.0f")) "
            + "latency_samples=\(figures.latencySamples) verdict=\"\(figures.verdict)\""
    }
}

extension Bench {
    /// The workers phase: for each contender, the throughput on a backlog of `events` events (at
    /// least; whole windows) and the window latency at `rate` for `seconds` of live input.
    func workers(events: Int, counts: [Int], rate: Double, seconds: Double) -> [WorkersResult] {
        let windows = ClickInput.windows(forAtLeast: events)
        let total = ClickInput.eventCount(windows: windows)
        // 3 partitions, so each of 3 workers owns one; more when a count is higher, so no worker idles.
        let partitions = Int32(max(3, counts.max() ?? 1))
        var results: [WorkersResult] = []
        for contender in WorkersContender.all(counts: counts) {
            say("\n== \(contender.label)")
            var result = WorkersResult(contender, events: total)
            result.figures = workersThroughput(contender, partitions: partitions, events: total, windows: windows)
            if result.figures.failure == nil {
                windowLatency(name: "workers-\(contender.key)", partitions: partitions, rate: rate, seconds: seconds, into: &result.figures) { input, output in
                    try startWorkers(contender, input: input, output: output, tag: "lat-workers-\(contender.key)")
                }
            }
            if let failure = result.figures.failure { say("FAILED workers \(contender.key): \(failure)") }
            say(result.line)
            results.append(result)
        }
        return results
    }

    /// Records/s from the workers' start until the read_committed output holds every window, the
    /// workers' CPU summed, then the transaction-aware check of the output.
    func workersThroughput(_ contender: WorkersContender, partitions: Int32, events: Int, windows: Int) -> ContenderResult {
        var result = ContenderResult(key: contender.key, label: contender.label, events: events)
        let input = "bench-workers-in-\(contender.key)-\(runId)"
        let output = "bench-workers-out-\(contender.key)-\(runId)"
        let expected = windows * ClickEventSequence.pages.count
        do {
            try createTopic(input, partitions: partitions)
            try createTopic(output)
            let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: partitions, clientProperties: clientProperties)
            try generator.write(from: 0, count: events)
            generator.close()
            let watcher = try OutputWatcher(bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, clientProperties: clientProperties)
            defer { watcher.stop() }
            let brokerBefore = brokerCPU()
            let jobs = try startWorkers(contender, input: input, output: output, tag: "workers-\(contender.key)")
            defer { jobs.forEach { $0.kill() } }
            let reached = watcher.waitForTarget(timeout: timeout) { !jobs.allSatisfy(\.isRunning) }
            // Read before the kill: /proc forgets a process once it is reaped.
            let cpu = jobs.compactMap(\.usage).map(\.cpuSeconds).reduce(0, +)
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
            if let brokerBefore, let brokerAfter { result.brokerCPUSeconds = brokerAfter - brokerBefore }
            // The click count's transaction-aware check: it throws when the output is not exact.
            _ = try verify(.clickCount, topic: output, expected: expected, windows: windows)
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

    /// Starts the contender's workers together, each with its own `--worker-index` and log
    /// (`<work>/<tag>-w<i>.log`); with the hop, on a repartition topic of its own
    /// (`--repartition-topic-prefix`), so no run reads what an earlier one left.
    func startWorkers(_ contender: WorkersContender, input: String, output: String, tag: String) throws -> [MeasuredProcess] {
        let (executable, arguments) = command(.clickCount, input: input, output: output, tag: tag)
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
