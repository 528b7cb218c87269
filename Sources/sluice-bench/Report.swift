import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the figures came from.
enum Machine {
    static func describe() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memKB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } } ?? 0
        let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(model), \(memKB / 1024 / 1024) GiB, Linux \(kernel); load average at start \(load)"
    }

    /// The embedded broker's process, found by its listener port in /proc/*/cmdline.
    static func brokerPid(port: Int) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if command.contains("tansu") && command.contains("broker") && command.contains("127.0.0.1:\(port)") { return pid }
        }
        return nil
    }
}

/// One target, PASS or MISS (or not measured).
struct Check {
    var name: String
    var measured: String
    var pass: Bool?

    var verdict: String { pass.map { $0 ? "PASS" : "MISS" } ?? "n/a" }
}

enum Report {
    static func fmt(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "-" }

    static func printLine(_ r: ContenderResult) {
        if let failure = r.failure { print("FAILED \(r.key): \(failure)") }
        print("RESULT \(r.key) records_per_s=\(fmt(r.recordsPerSecond, "%.0f")) seconds=\(fmt(r.seconds, "%.2f")) "
            + "written_records_per_s=\(fmt(r.writtenRecordsPerSecond, "%.0f")) "
            + "p50_ms=\(fmt(r.latencyP50, "%.0f")) p99_ms=\(fmt(r.latencyP99, "%.0f")) cpu_s=\(fmt(r.cpuSeconds, "%.2f")) "
            + "peak_rss_mb=\(fmt(r.peakRSSBytes.map { Double($0) / 1_048_576 }, "%.0f")) broker_cpu_s=\(fmt(r.brokerCPUSeconds, "%.2f")) "
            + "checkpoints=\(r.checkpoints?.count ?? 0) checkpoint_median_ms=\(fmt(r.checkpoints?.medianMillis, "%.0f")) "
            + "checkpoint_max_ms=\(fmt(r.checkpoints?.maxMillis, "%.0f")) checkpoint_bytes=\(r.checkpoints?.lastBytes ?? 0) "
            + "latency_samples=\(r.latencySamples) txn_commits=\(r.checkpoints?.commitMillis.count ?? 0) "
            + "txn_flush_median_ms=\(fmt(r.checkpoints.flatMap { Percentiles.of($0.flushMillis, 0.5) }, "%.1f")) "
            + "txn_commit_median_ms=\(fmt(r.checkpoints.flatMap { Percentiles.of($0.commitMillis, 0.5) }, "%.1f")) "
            + "txn_commit_max_ms=\(fmt(r.checkpoints?.commitMillis.max(), "%.1f")) verdict=\"\(r.verdict)\"")
        if !r.topThreads.isEmpty {
            print("  CPU by thread: " + r.topThreads.map { "\($0.name) \(String(format: "%.2f", $0.cpuSeconds)) s" }.joined(separator: ", "))
        }
        fflush(nil)
    }

    static func checks(
        results: [ContenderResult], state: StateResult, restart: RestartResult, backpressure: BackpressureResult? = nil,
        workers: [WorkersResult] = []
    ) -> [Check] {
        func result(_ key: ContenderKind) -> ContenderResult? { results.first { $0.key == key.rawValue && $0.failure == nil } }
        func ratio(
            _ name: String, _ a: ContenderKind, _ b: ContenderKind, _ bound: Double,
            rate: (ContenderResult) -> Double? = { $0.recordsPerSecond }
        ) -> Check {
            guard let x = result(a).flatMap(rate), let y = result(b).flatMap(rate) else { return Check(name: name, measured: "not measured") }
            let value = x / y
            return Check(name: name, measured: String(format: "%.2fx", value), pass: value >= bound)
        }
        var checks = [
            ratio("Sluice exactly-once pass-through >= 0.7x raw librdkafka", .sluiceExactlyOnce, .raw, 0.7),
            ratio("exactly-once >= 0.9x at-least-once (1 s checkpoints)", .sluiceExactlyOnce, .sluiceAtLeastOnce, 0.9),
            ratio("click-count exactly-once >= 20x Quix Streams", .clickCount, .quix, 20),
            // The same two ratios on the processing rate (output written, read_uncommitted), which leaves out
            // the wait for the checkpoint after the last record; reported beside the visible rate, not instead.
            ratio("processing rate: exactly-once pass-through >= 0.7x raw (written, read_uncommitted)",
                  .sluiceExactlyOnce, .raw, 0.7, rate: { $0.writtenRecordsPerSecond }),
            ratio("processing rate: exactly-once >= 0.9x at-least-once (written, read_uncommitted)",
                  .sluiceExactlyOnce, .sluiceAtLeastOnce, 0.9, rate: { $0.writtenRecordsPerSecond }),
        ]
        if let millis = state.millis {
            checks.append(Check(name: "checkpoint of \(state.keys) keys of heap state < 1 s", measured: String(format: "%.0f ms", millis), pass: millis < 1000))
        } else {
            checks.append(Check(name: "checkpoint of \(state.keys) keys of heap state < 1 s", measured: "not measured"))
        }
        if let worst = restart.seconds.max() {
            checks.append(Check(name: "restart to first committed output < 3 s (worst of \(restart.seconds.count))",
                                measured: String(format: "%.2f s", worst), pass: worst < 3))
        } else {
            checks.append(Check(name: "restart to first committed output < 3 s", measured: "not measured"))
        }
        if let backpressure {
            let name = "checkpoint under backpressure < 1 s with unaligned checkpoints (longest of the run), output exact"
            if let worst = backpressure.unaligned.checkpoints.maxMillis, backpressure.failure == nil {
                let baseline = Report.fmt(backpressure.aligned.checkpoints.maxMillis, "%.0f ms")
                checks.append(Check(
                    name: name,
                    measured: String(format: "%.0f ms", worst) + " (aligned, same backlog: \(baseline)); \(backpressure.unaligned.verdict)",
                    pass: worst < 1000 && backpressure.unaligned.verdict.hasPrefix("exact")))
            } else {
                checks.append(Check(name: name, measured: "not measured"))
            }
        }
        for job in WorkersJob.allCases where workers.contains(where: { $0.contender.job == job }) {
            checks.append(hopCost(workers.filter { $0.contender.job == job }, job: job))
        }
        return checks
    }

    /// What the keyBy's hop through the repartition topic costs one process of `job`: records/s
    /// with it over without it. No target for the ratio (informational); PASS when every output of
    /// the job's workers contenders was exact.
    static func hopCost(_ workers: [WorkersResult], job: WorkersJob) -> Check {
        let name = "hop cost, \(job.rawValue): one process with the hop vs without (records/s; PASS when every workers output is exact)"
        func rate(hop: Bool) -> Double? {
            workers.first { $0.contender.workers == 1 && $0.contender.hop == hop && $0.figures.failure == nil }?.figures.recordsPerSecond
        }
        let exact = workers.filter(\.isExact).count
        let outputs = "outputs exact: \(exact) of \(workers.count)"
        guard let with = rate(hop: true), let without = rate(hop: false) else {
            return Check(name: name, measured: "not measured; \(outputs)", pass: exact == workers.count)
        }
        return Check(
            name: name, measured: String(format: "%.2fx (%.0f vs %.0f records/s); ", with / without, with, without) + outputs,
            pass: exact == workers.count)
    }

    static func printTable(
        results: [ContenderResult], state: StateResult, restart: RestartResult, backpressure: BackpressureResult? = nil,
        workers: [WorkersResult] = [], checks: [Check]
    ) {
        let header = ["contender", "records/s", "written/s", "e2e p50", "e2e p99", "CPU s", "peak RSS", "broker CPU s", "checkpoints (n, median, max, size)", "output"]
        var rows: [[String]] = [header]
        for r in results {
            let cp = r.checkpoints.flatMap { $0.count > 0 ? $0 : nil }
            rows.append([
                r.label, fmt(r.recordsPerSecond, "%.0f"), fmt(r.writtenRecordsPerSecond, "%.0f"),
                fmt(r.latencyP50, "%.0f ms"), fmt(r.latencyP99, "%.0f ms"),
                fmt(r.cpuSeconds, "%.2f"), fmt(r.peakRSSBytes.map { Double($0) / 1_048_576 }, "%.0f MB"),
                fmt(r.brokerCPUSeconds, "%.2f"),
                cp.map { "\($0.count), \(fmt($0.medianMillis, "%.0f")) ms, \(fmt($0.maxMillis, "%.0f")) ms, \($0.lastBytes) B" } ?? "-",
                r.verdict,
            ])
        }
        printRows(rows)
        print("")
        print(state.summary)
        print(restart.summary)
        if let backpressure { print(backpressure.summary) }
        if !workers.isEmpty {
            print("")
            printWorkersTable(workers)
        }
        print("")
        for check in checks {
            print("\(check.verdict)  \(check.name): \(check.measured)")
        }
    }

    /// The workers phase: one row per contender, CPU summed over its workers.
    static func printWorkersTable(_ workers: [WorkersResult]) {
        var rows = [["workers contender", "workers", "hop", "records/s", "CPU s (all workers)", "broker CPU s", "e2e p50", "e2e p99", "output"]]
        for w in workers {
            let r = w.figures
            rows.append([
                r.label, "\(w.contender.workers)", w.contender.hop ? "yes" : "no", fmt(r.recordsPerSecond, "%.0f"),
                fmt(r.cpuSeconds, "%.2f"), fmt(r.brokerCPUSeconds, "%.2f"), fmt(r.latencyP50, "%.0f ms"), fmt(r.latencyP99, "%.0f ms"), r.verdict,
            ])
        }
        printRows(rows)
    }

    /// A markdown table; the first row is the header.
    static func printRows(_ rows: [[String]]) {
        guard let header = rows.first else { return }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (index, row) in rows.enumerated() {
            print("| " + row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |")
            if index == 0 { print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|") }
        }
    }

    static func writeJSON(
        path: String, results: [ContenderResult], state: StateResult, restart: RestartResult, workers: [WorkersResult] = [],
        checks: [Check], events: Int
    ) throws {
        var contenders: [[String: Any]] = []
        for r in results {
            var entry: [String: Any] = ["key": r.key, "label": r.label, "events": r.events, "verdict": r.verdict]
            if let v = r.recordsPerSecond { entry["recordsPerSecond"] = v }
            if let v = r.seconds { entry["seconds"] = v }
            if let v = r.writtenRecordsPerSecond { entry["writtenRecordsPerSecond"] = v }
            if let v = r.latencyP50 { entry["latencyP50Millis"] = v }
            if let v = r.latencyP99 { entry["latencyP99Millis"] = v }
            if let v = r.cpuSeconds { entry["cpuSeconds"] = v }
            if let v = r.peakRSSBytes { entry["peakRSSBytes"] = v }
            if let v = r.brokerCPUSeconds { entry["brokerCPUSeconds"] = v }
            if let cp = r.checkpoints, cp.count > 0 {
                entry["checkpoints"] = ["count": cp.count, "medianMillis": cp.medianMillis ?? 0, "maxMillis": cp.maxMillis ?? 0, "lastBytes": cp.lastBytes]
            }
            if let failure = r.failure { entry["failure"] = failure }
            contenders.append(entry)
        }
        var document: [String: Any] = [
            "machine": Machine.describe(), "events": events, "contenders": contenders,
            "checks": checks.map { ["name": $0.name, "measured": $0.measured, "verdict": $0.verdict] },
            "restartSeconds": restart.seconds,
        ]
        if !workers.isEmpty {
            document["workers"] = workers.map { w -> [String: Any] in
                var entry: [String: Any] = [
                    "key": w.contender.key, "job": w.contender.job.rawValue, "workers": w.contender.workers, "hop": w.contender.hop, "events": w.figures.events, "verdict": w.figures.verdict,
                ]
                if let v = w.figures.recordsPerSecond { entry["recordsPerSecond"] = v }
                if let v = w.figures.cpuSeconds { entry["cpuSeconds"] = v }
                if let v = w.figures.brokerCPUSeconds { entry["brokerCPUSeconds"] = v }
                if let v = w.figures.latencyP50 { entry["latencyP50Millis"] = v }
                if let v = w.figures.latencyP99 { entry["latencyP99Millis"] = v }
                if let failure = w.figures.failure { entry["failure"] = failure }
                return entry
            }
        }
        if let millis = state.millis { document["stateCheckpoint"] = ["keys": state.keys, "millis": millis, "bytes": state.bytes ?? 0] }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
