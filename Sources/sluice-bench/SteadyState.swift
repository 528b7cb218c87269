import Foundation
import SluiceClickCount
import SluiceKafka

/// One moment of a steady-state run: seconds since the contender's start, committed output so far
/// (in input records), and CPU seconds of the job and the broker.
struct SteadySample: Sendable {
    var at: Double
    var records: Int
    var jobCPU: Double?
    var brokerCPU: Double?
}

/// The rate over the middle of a run: after the warm-up (connections, first fetches, the first
/// checkpoint) and before the tail (the last checkpoint's wait), i.e. between `from` and `to` of the
/// run's time.
///
/// Exactly-once output becomes visible in steps, one per committed checkpoint. Cutting at arbitrary
/// moments would count a fraction of a step at either end (an error of up to one interval's output
/// in a span of a few intervals), so when the output rises in steps the span runs from the first
/// step in the window to the last one, and counts the output visible just before each: whole
/// checkpoint intervals. Output that rises continuously (at-least-once, raw) is cut at the window's
/// ends, interpolating between samples.
struct MiddleSpan: Equatable, Sendable {
    var startAt: Double
    var endAt: Double
    var records: Int
    var jobCPU: Double?
    var brokerCPU: Double?
    /// True when the span runs between commit steps (output visible in steps).
    var stepwise: Bool

    var seconds: Double { endAt - startAt }
    var rate: Double? { seconds > 0 ? Double(records) / seconds : nil }
    var jobCPUPerMillion: Double? { jobCPU.flatMap { records > 0 ? $0 / Double(records) * 1_000_000 : nil } }
    var brokerCPUPerMillion: Double? { brokerCPU.flatMap { records > 0 ? $0 / Double(records) * 1_000_000 : nil } }

    static func of(_ samples: [SteadySample], from: Double = 0.2, to: Double = 0.8) -> MiddleSpan? {
        guard let last = samples.last, samples.count >= 2, last.at > 0 else { return nil }
        let windowStart = last.at * from
        let windowEnd = last.at * to
        // A step starts where the output rises after at least one sample without change.
        let stepStarts = samples.indices.dropFirst(2).filter { index in
            samples[index].at >= windowStart && samples[index].at <= windowEnd
                && samples[index].records > samples[index - 1].records && samples[index - 1].records == samples[index - 2].records
        }
        if let first = stepStarts.first, let lastStep = stepStarts.last, first != lastStep,
           samples[lastStep].at - samples[first].at >= (windowEnd - windowStart) / 2 {
            let a = samples[first - 1], b = samples[lastStep - 1]
            return MiddleSpan(
                startAt: samples[first].at, endAt: samples[lastStep].at, records: b.records - a.records,
                jobCPU: difference(samples[lastStep].jobCPU, samples[first].jobCPU),
                brokerCPU: difference(samples[lastStep].brokerCPU, samples[first].brokerCPU), stepwise: true)
        }
        let a = interpolate(samples, at: windowStart), b = interpolate(samples, at: windowEnd)
        // No output became visible in the window (a run of one or two checkpoints): no middle rate, rather than 0.
        guard b.records > a.records else { return nil }
        return MiddleSpan(
            startAt: windowStart, endAt: windowEnd, records: Int((b.records - a.records).rounded()),
            jobCPU: difference(b.jobCPU, a.jobCPU), brokerCPU: difference(b.brokerCPU, a.brokerCPU), stepwise: false)
    }

    private static func difference(_ b: Double?, _ a: Double?) -> Double? {
        guard let a, let b else { return nil }
        return b - a
    }

    /// Linear interpolation of the output and CPU between the two samples around `at`.
    private static func interpolate(_ samples: [SteadySample], at: Double) -> (records: Double, jobCPU: Double?, brokerCPU: Double?) {
        let after = samples.firstIndex { $0.at >= at } ?? samples.count - 1
        let before = max(0, after - 1)
        let a = samples[before], b = samples[after]
        let weight = b.at > a.at ? (at - a.at) / (b.at - a.at) : 1
        func mix(_ x: Double?, _ y: Double?) -> Double? {
            guard let x, let y else { return nil }
            return x + (y - x) * weight
        }
        return (Double(a.records) + Double(b.records - a.records) * weight, mix(a.jobCPU, b.jobCPU), mix(a.brokerCPU, b.brokerCPU))
    }
}

/// One contender's steady-state run.
struct SteadyResult {
    var kind: ContenderKind
    var repetition: Int
    /// Committed output so far, in input records (a click-count result stands for its 1000 events).
    var records = 0
    var runSeconds: Double?
    var middle: MiddleSpan?
    var jobCPUSeconds: Double?
    var brokerCPUSeconds: Double?
    var peakRSSBytes: Int?
    var checkpoints: CheckpointLogSummary?
    /// The click counts stop after `--steady-seconds`; the pass-throughs run until the input is done.
    var stoppedAtDuration = false
    var verdict = "not run"
    var failure: String?

    var wholeRate: Double? { runSeconds.flatMap { $0 > 0 ? Double(records) / $0 : nil } }
    var jobCPUPerMillion: Double? { jobCPUSeconds.flatMap { records > 0 ? $0 / Double(records) * 1_000_000 : nil } }
    var brokerCPUPerMillion: Double? { brokerCPUSeconds.flatMap { records > 0 ? $0 / Double(records) * 1_000_000 : nil } }
}

extension Bench {
    /// A contender on the pre-generated backlog, sampled every 50 ms: the read_committed output count
    /// and the CPU of the job and the broker. Pass-throughs run until all output is committed; the
    /// click counts until theirs is or `seconds` passed (their input lasts longer than a minute only
    /// when it is large: Quix Streams takes minutes for a million events).
    func steady(
        _ kind: ContenderKind, input: String, events: Int, windows: Int, seconds: Double, repetition: Int, tag: String
    ) -> SteadyResult {
        var result = SteadyResult(kind: kind, repetition: repetition)
        let output = "bench-steady-out-\(tag)-\(runId)"
        let perResult = kind.isPassThrough ? 1 : Int(ClickEventSequence.eventsPerWindowAllPages) / ClickEventSequence.pages.count
        let expected = kind.isPassThrough ? events : windows * ClickEventSequence.pages.count
        do {
            try createTopic(output)
            defer { deleteTopic(output) }
            let watcher = try OutputWatcher(bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, clientProperties: clientProperties)
            defer { watcher.stop() }
            let (executable, arguments) = command(kind, input: input, output: output, tag: tag)
            let child = try MeasuredProcess(name: kind.rawValue, executable: executable, arguments: arguments, logPath: "\(work)/\(tag).log")
            defer { child.kill() }
            let brokerBefore = brokerCPU()
            var samples: [SteadySample] = []
            var complete = false
            while true {
                let count = watcher.count
                let at = (ContinuousClock.now - child.started) / .seconds(1)
                samples.append(SteadySample(
                    at: at, records: min(count, expected) * perResult, jobCPU: ProcessUsage.cpuSeconds(pid: child.pid),
                    brokerCPU: brokerCPU().flatMap { cpu in brokerBefore.map { cpu - $0 } }))
                if count >= expected { complete = true; break }
                if !kind.isPassThrough && at >= seconds { result.stoppedAtDuration = true; break }
                guard at < timeout, child.isRunning else {
                    throw BenchError.contenderFailed(
                        name: kind.rawValue,
                        detail: "output incomplete after \(Int(at)) s (\(count) of \(expected) records); log tail:\n\(child.logTail())")
                }
                usleep(50_000)
            }
            // Completion at the moment the watcher saw the last record, not at the sample after it.
            if complete, let reached = watcher.snapshot.reachedTarget, var last = samples.popLast() {
                last.at = min(last.at, (reached - child.started) / .seconds(1))
                samples.append(last)
            }
            let usage = child.usage
            child.kill()
            result.checkpoints = CheckpointLogSummary(log: child.log)
            result.records = samples.last?.records ?? 0
            result.runSeconds = samples.last?.at
            result.middle = MiddleSpan.of(samples)
            result.jobCPUSeconds = usage?.cpuSeconds
            result.brokerCPUSeconds = samples.last?.brokerCPU
            result.peakRSSBytes = usage?.peakRSSBytes
            if complete {
                result.verdict = try verify(kind, topic: output, expected: expected, windows: windows)
            } else {
                result.verdict = "stopped after \(Int(seconds)) s (not checked)"
            }
        } catch {
            result.failure = "\(error)"
            result.verdict = "FAILED"
        }
        return result
    }

    /// Drops a finished run's output, so ten-million-record runs do not pile up in the broker's memory.
    /// Best effort: a broker that refuses keeps the topic, and the run goes on.
    func deleteTopic(_ name: String) {
        do {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap, clientProperties))
            defer { admin.close() }
            try admin.deleteTopics([name])
        } catch {
            say("  (could not delete topic \(name): \(error); it stays in the broker)")
        }
    }
}

/// min / median / max of a figure over repetitions.
struct Spread {
    var values: [Double]

    init(_ values: [Double?]) { self.values = values.compactMap { $0 }.sorted() }
    init(_ values: [Double]) { self.values = values.sorted() }

    var median: Double? { Percentiles.nearestRank(values, 0.5) }

    func text(_ format: String) -> String {
        guard let low = values.first, let high = values.last, let median else { return "-" }
        if values.count == 1 { return String(format: format, median) }
        return [low, median, high].map { String(format: format, $0) }.joined(separator: " / ")
    }
}

/// One point of the latency sweep: the exactly-once pass-through at one checkpoint interval.
struct SweepResult {
    var intervalMillis: Int
    var repetition: Int
    var latency: ContenderResult
    var throughput: SteadyResult
}

enum SteadyReport {
    static func printLine(_ r: SteadyResult) {
        let fmt = Report.fmt
        if let failure = r.failure { print("FAILED \(r.kind.rawValue) (repetition \(r.repetition)): \(failure)") }
        print("RESULT-STEADY \(r.kind.rawValue) repetition=\(r.repetition) middle_records_per_s=\(fmt(r.middle?.rate, "%.0f")) "
            + "middle_from_s=\(fmt(r.middle?.startAt, "%.1f")) middle_to_s=\(fmt(r.middle?.endAt, "%.1f")) "
            + "middle_stepwise=\(r.middle?.stepwise ?? false) whole_records_per_s=\(fmt(r.wholeRate, "%.0f")) "
            + "records=\(r.records) run_s=\(fmt(r.runSeconds, "%.2f")) "
            + "job_cpu_s_per_m=\(fmt(r.middle?.jobCPUPerMillion, "%.2f")) broker_cpu_s_per_m=\(fmt(r.middle?.brokerCPUPerMillion, "%.2f")) "
            + "whole_job_cpu_s_per_m=\(fmt(r.jobCPUPerMillion, "%.2f")) whole_broker_cpu_s_per_m=\(fmt(r.brokerCPUPerMillion, "%.2f")) "
            + "peak_rss_mb=\(fmt(r.peakRSSBytes.map { Double($0) / 1_048_576 }, "%.0f")) checkpoints=\(r.checkpoints?.count ?? 0) "
            + "checkpoint_median_ms=\(fmt(r.checkpoints?.medianMillis, "%.0f")) verdict=\"\(r.verdict)\"")
        fflush(nil)
    }

    static func printTable(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for (index, row) in all.enumerated() {
            print("| " + row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |")
            if index == 0 { print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|") }
        }
    }

    /// The steady-state table (min / median / max over repetitions) and its ratio targets, each ratio
    /// taken within one repetition (the contenders of one repetition run one after the other).
    static func summarize(_ results: [SteadyResult], kinds: [ContenderKind], repetitions: Int) -> [Check] {
        print("Steady state: min / median / max over \(repetitions) repetition(s); middle = 20%–80% of each run's time.")
        let header = ["contender", "middle records/s", "whole-run records/s", "job CPU s / 1M (middle)", "broker CPU s / 1M (middle)",
                      "peak RSS", "run s", "output"]
        var rows: [[String]] = []
        for kind in kinds {
            let runs = results.filter { $0.kind == kind && $0.failure == nil }
            let failed = results.filter { $0.kind == kind && $0.failure != nil }.count
            rows.append([
                kind.label, Spread(runs.map { $0.middle?.rate }).text("%.0f"), Spread(runs.map(\.wholeRate)).text("%.0f"),
                Spread(runs.map { $0.middle?.jobCPUPerMillion }).text("%.2f"), Spread(runs.map { $0.middle?.brokerCPUPerMillion }).text("%.2f"),
                Spread(runs.map { $0.peakRSSBytes.map { Double($0) / 1_048_576 } }).text("%.0f MB"),
                Spread(runs.map(\.runSeconds)).text("%.1f"),
                (Set(runs.map(\.verdict)).sorted().joined(separator: "; ")) + (failed > 0 ? " (\(failed) FAILED)" : ""),
            ])
        }
        printTable(header, rows)
        func ratio(_ name: String, _ a: ContenderKind, _ b: ContenderKind, _ bound: Double, rate: (SteadyResult) -> Double?) -> Check {
            var ratios: [Double] = []
            for repetition in 1...max(1, repetitions) {
                let x = results.first { $0.kind == a && $0.repetition == repetition && $0.failure == nil }.flatMap(rate)
                let y = results.first { $0.kind == b && $0.repetition == repetition && $0.failure == nil }.flatMap(rate)
                if let x, let y, y > 0 { ratios.append(x / y) }
            }
            let spread = Spread(ratios)
            guard let median = spread.median else { return Check(name: name, measured: "not measured") }
            return Check(
                name: name,
                measured: String(format: "%.2fx", median) + " (per repetition: " + ratios.map { String(format: "%.2fx", $0) }.joined(separator: ", ") + ")",
                pass: median >= bound)
        }
        return [
            ratio("steady state: exactly-once >= 0.9x at-least-once (middle rate, median of repetitions)",
                  .sluiceExactlyOnce, .sluiceAtLeastOnce, 0.9) { $0.middle?.rate },
            ratio("steady state: exactly-once >= 0.75x raw librdkafka (middle rate, median of repetitions)",
                  .sluiceExactlyOnce, .raw, 0.75) { $0.middle?.rate },
            ratio("steady state: click-count exactly-once >= 50x Quix Streams (middle rate, median of repetitions)",
                  .clickCount, .quix, 50) { $0.middle?.rate },
            ratio("whole run: exactly-once >= 0.9x at-least-once (for comparison)", .sluiceExactlyOnce, .sluiceAtLeastOnce, 0.9) { $0.wholeRate },
            ratio("whole run: exactly-once >= 0.75x raw librdkafka (for comparison)", .sluiceExactlyOnce, .raw, 0.75) { $0.wholeRate },
        ]
    }

    /// The latency sweep's table and targets (medians over repetitions when there are several).
    static func summarizeSweep(_ results: [SweepResult], intervals: [Int], rate: Double) -> [Check] {
        print(String(format: "Latency against checkpoint interval: exactly-once pass-through, live input at %.0f records/s; "
                     + "throughput on the backlog (min / median / max over repetitions).", rate))
        let header = ["checkpoint interval", "e2e p50", "e2e p99", "e2e p99.9", "samples", "middle records/s", "whole-run records/s",
                      "checkpoints (n, median ms)", "output"]
        var rows: [[String]] = []
        for interval in intervals {
            let runs = results.filter { $0.intervalMillis == interval }
            let latency = runs.map(\.latency).filter { $0.failure == nil }
            let throughput = runs.map(\.throughput).filter { $0.failure == nil }
            let checkpoints = Spread(throughput.map { $0.checkpoints.map { Double($0.count) } }).text("%.0f")
            let checkpointMillis = Spread(throughput.map { $0.checkpoints?.medianMillis }).text("%.0f")
            let failures = runs.filter { $0.latency.failure != nil || $0.throughput.failure != nil }.count
            rows.append([
                "\(interval) ms", Spread(latency.map(\.latencyP50)).text("%.0f ms"), Spread(latency.map(\.latencyP99)).text("%.0f ms"),
                Spread(latency.map(\.latencyP999)).text("%.0f ms"), Spread(latency.map { Double($0.latencySamples) }).text("%.0f"),
                Spread(throughput.map { $0.middle?.rate }).text("%.0f"), Spread(throughput.map(\.wholeRate)).text("%.0f"),
                "\(checkpoints), \(checkpointMillis)",
                Set(throughput.map(\.verdict)).sorted().joined(separator: "; ") + (failures > 0 ? " (\(failures) FAILED)" : ""),
            ])
        }
        printTable(header, rows)
        var checks: [Check] = []
        let p99Name = String(format: "exactly-once e2e p99 <= 250 ms at 100 ms checkpoints (%.0f records/s live)", rate)
        if let p99 = Spread(results.filter { $0.intervalMillis == 100 && $0.latency.failure == nil }.map(\.latency.latencyP99)).median {
            checks.append(Check(name: p99Name, measured: String(format: "%.0f ms", p99), pass: p99 <= 250))
        } else {
            checks.append(Check(name: p99Name, measured: "not measured"))
        }
        var ratios: [Double] = []
        for repetition in Set(results.map(\.repetition)).sorted() {
            let at = { (interval: Int) in
                results.first { $0.intervalMillis == interval && $0.repetition == repetition && $0.throughput.failure == nil }?.throughput.middle?.rate
            }
            if let fast = at(100), let slow = at(1000), slow > 0 { ratios.append(fast / slow) }
        }
        let ratioName = "throughput at 100 ms checkpoints >= 0.85x that at 1 s (middle rate)"
        if let median = Spread(ratios).median {
            checks.append(Check(
                name: ratioName,
                measured: String(format: "%.2fx", median) + " (per repetition: " + ratios.map { String(format: "%.2fx", $0) }.joined(separator: ", ") + ")",
                pass: median >= 0.85))
        } else {
            checks.append(Check(name: ratioName, measured: "not measured"))
        }
        return checks
    }

    static func writeJSON(path: String, steady: [SteadyResult], sweep: [SweepResult], checks: [Check], events: Int) throws {
        func entry(_ r: SteadyResult) -> [String: Any] {
            var entry: [String: Any] = ["key": r.kind.rawValue, "repetition": r.repetition, "records": r.records, "verdict": r.verdict,
                                        "stoppedAtDuration": r.stoppedAtDuration]
            if let v = r.middle?.rate { entry["middleRecordsPerSecond"] = v }
            if let v = r.middle { entry["middleFromSeconds"] = v.startAt; entry["middleToSeconds"] = v.endAt; entry["middleStepwise"] = v.stepwise }
            if let v = r.middle?.jobCPUPerMillion { entry["middleJobCPUSecondsPerMillion"] = v }
            if let v = r.middle?.brokerCPUPerMillion { entry["middleBrokerCPUSecondsPerMillion"] = v }
            if let v = r.wholeRate { entry["wholeRecordsPerSecond"] = v }
            if let v = r.runSeconds { entry["runSeconds"] = v }
            if let v = r.jobCPUPerMillion { entry["jobCPUSecondsPerMillion"] = v }
            if let v = r.brokerCPUPerMillion { entry["brokerCPUSecondsPerMillion"] = v }
            if let v = r.peakRSSBytes { entry["peakRSSBytes"] = v }
            if let cp = r.checkpoints, cp.count > 0 { entry["checkpoints"] = ["count": cp.count, "medianMillis": cp.medianMillis ?? 0] }
            if let failure = r.failure { entry["failure"] = failure }
            return entry
        }
        let sweepEntries: [[String: Any]] = sweep.map { point in
            var latency: [String: Any] = ["samples": point.latency.latencySamples]
            if let v = point.latency.latencyP50 { latency["p50Millis"] = v }
            if let v = point.latency.latencyP99 { latency["p99Millis"] = v }
            if let v = point.latency.latencyP999 { latency["p999Millis"] = v }
            if let failure = point.latency.failure { latency["failure"] = failure }
            return ["intervalMillis": point.intervalMillis, "repetition": point.repetition, "latency": latency, "throughput": entry(point.throughput)]
        }
        let document: [String: Any] = [
            "machine": Machine.describe(), "events": events, "steady": steady.map(entry), "sweep": sweepEntries,
            "checks": checks.map { ["name": $0.name, "measured": $0.measured, "verdict": $0.verdict] },
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
