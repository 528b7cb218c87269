import Foundation
import SluiceApp
import SluiceClickCount
import SluiceKafkaWire
import SluiceEmbeddedBroker
import Synchronization

#if canImport(Glibc)
import Glibc
import SluiceKafka
#endif

/// The 1,000,000-key checkpoint figure.
struct StateResult {
    var keys = 0
    var millis: Double?
    var bytes: Int?
    var failure: String?

    var summary: String {
        if let failure { return "state checkpoint: FAILED: \(failure)" }
        return String(format: "RESULT state-checkpoint keys=%d ms=%.0f bytes=%d", keys, millis ?? -1, bytes ?? -1)
    }
}

/// The restart figures.
struct RestartResult {
    var seconds: [Double] = []
    var failure: String?

    var summary: String {
        if let failure { return "restart: FAILED: \(failure)" }
        return "RESULT restart seconds=" + seconds.map { String(format: "%.2f", $0) }.joined(separator: ",")
    }
}

/// The backpressure figures: checkpoints of the click-count job behind the playground's slow
/// operator, aligned (the baseline) and unaligned, each on the same backlog, with the output checked.
struct BackpressureResult {
    struct Run {
        var checkpoints = CheckpointLogSummary(log: "")
        var verdict = "not run"
        var seconds: Double?
    }

    var pauseMillis = 0
    var events = 0
    var aligned = Run()
    var unaligned = Run()
    var failure: String?

    var summary: String {
        if let failure { return "backpressure: FAILED: \(failure)" }
        func line(_ name: String, _ run: Run) -> String {
            "RESULT backpressure-\(name) pause_ms=\(pauseMillis) events=\(events) checkpoints=\(run.checkpoints.count) "
                + "checkpoint_median_ms=\(Report.fmt(run.checkpoints.medianMillis, "%.0f")) checkpoint_max_ms=\(Report.fmt(run.checkpoints.maxMillis, "%.0f")) "
                + "checkpoint_max_bytes=\(run.checkpoints.maxBytes) seconds=\(Report.fmt(run.seconds, "%.1f")) verdict=\"\(run.verdict)\""
        }
        return line("aligned", aligned) + "\n" + line("unaligned", unaligned)
    }
}

/// Runs the measurements against one broker.
struct Bench {
    let bootstrap: String
    let broker: EmbeddedBroker
    let brokerPid: Int32?
    let selfPath: String
    let binDir: String
    let work: String
    let python: String
    let quixScript: String
    let timeout: Double
    /// Suffix of every topic, transactional id and group of this run, so runs against one external
    /// broker (KAFKA_BOOTSTRAP) never see each other's data.
    let runId: String
    /// Record a CPU profile of each contender's throughput run with `perf record -g -p <pid>`.
    var profile = false
    /// Security (TLS, SASL) of the readers' own wire connections.
    var connection = KafkaConnectionOptions()
    /// librdkafka properties (-X, --client-config) of every client the bench starts, contenders included.
    var clientProperties: [String: String] = [:]
    /// Checkpoint interval of the Sluice pass-throughs (ms); nil: their default, 1 s. The latency sweep sets it.
    var passThroughCheckpointIntervalMs: Int?

    /// Two partitions unless told (the workers phase gives each worker one of its own).
    func createTopic(_ name: String, partitions: Int32 = 2) throws {
        // Explicit retention configs: the embedded broker reports only configs set at creation,
        // and Quix Streams reads them (kafka-facts).
        let configs = ["retention.ms": "604800000", "retention.bytes": "-1"]
        guard !broker.isEmbedded, !clientProperties.isEmpty else {
            try broker.createTopic(name, partitions: Int(partitions), configs: configs)
            return
        }
        // An external, secured cluster: the admin client needs the client settings too.
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap, clientProperties))
        defer { admin.close() }
        try admin.createTopic(name, partitions: partitions, configs: configs)
    }

    /// The contender's command line.
    func command(_ kind: ContenderKind, input: String, output: String, tag: String) -> (String, [String]) {
        let checkpoints = "\(work)/\(tag)-checkpoints"
        switch kind {
        case .raw:
            return (selfPath, ["raw-passthrough", "--bootstrap", bootstrap, "--input", input, "--output", output] + ClientConfigOptions.arguments(for: clientProperties))
        case .sluiceAtLeastOnce, .sluiceExactlyOnce:
            return (selfPath, [
                "sluice-passthrough", "--bootstrap", bootstrap, "--input", input, "--output", output,
                "--delivery-guarantee", kind == .sluiceExactlyOnce ? "exactlyOnce" : "atLeastOnce",
                "--checkpoint-dir", checkpoints, "--transactional-id-prefix", "bench-\(tag)-\(runId)",
            ] + (passThroughCheckpointIntervalMs.map { ["--checkpoint-interval-ms", "\($0)"] } ?? []) + ClientConfigOptions.arguments(for: clientProperties))
        case .clickCount:
            return (binDir + "/click-count-job", [
                "--bootstrap", bootstrap, "--input-topic", input, "--output-topic", output, "--checkpointing", "--event-time",
                "--checkpoint-dir", checkpoints, "--transactional-id-prefix", "bench-\(tag)-\(runId)",
            ] + ClientConfigOptions.arguments(for: clientProperties))
        case .quix:
            return ("/usr/bin/env", [
                python, quixScript, "--bootstrap", bootstrap, "--input", input, "--output", output,
                "--state-dir", "\(work)/\(tag)-quix-state", "--group", "bench-\(tag)-\(runId)",
            ])
        }
    }

    func brokerCPU() -> Double? { brokerPid.flatMap { ProcessUsage.read(pid: $0)?.cpuSeconds } }

    /// Records/s from the contender's start until its read_committed output is complete, with CPU,
    /// memory and checkpoint figures, then the transaction-aware check of the output.
    func throughput(_ kind: ContenderKind, input: String, events: Int, windows: Int) -> ContenderResult {
        var result = ContenderResult(key: kind.rawValue, label: kind.label, events: events)
        let output = "bench-out-\(kind.rawValue)-\(runId)"
        let expected = kind.isPassThrough ? events : windows * ClickEventSequence.pages.count
        do {
            try createTopic(output)
            let watcher = try OutputWatcher(bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, clientProperties: clientProperties)
            defer { watcher.stop() }
            // The exactly-once pass-through: also when its output is WRITTEN (read_uncommitted), processed but
            // not yet committed: the processing rate without the wait for the checkpoint after the last record.
            // Non-transactional output is visible once written, so the other pass-throughs need no second
            // reader (which would take CPU from them on 2 cores; the exactly-once contender pays for it).
            let written = kind.isPassThrough && kind.isTransactional
                ? try OutputWatcher(bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, isolation: .readUncommitted, clientProperties: clientProperties)
                : nil
            defer { written?.stop() }
            let brokerBefore = brokerCPU()
            let (executable, arguments) = command(kind, input: input, output: output, tag: kind.rawValue)
            let child = try MeasuredProcess(
                name: kind.rawValue, executable: executable, arguments: arguments, logPath: "\(work)/\(kind.rawValue).log")
            let profiler = startProfiler(of: child, name: kind.rawValue)
            let reached = watcher.waitForTarget(timeout: timeout) { !child.isRunning }
            let usage = child.usage
            stopProfiler(profiler, name: kind.rawValue)
            let brokerAfter = brokerCPU()
            child.kill()
            result.checkpoints = CheckpointLogSummary(log: child.log)
            guard let reached else {
                result.failure = "output incomplete (\(watcher.count) of \(expected) records); log tail:\n\(child.logTail())"
                result.verdict = "FAILED"
                return result
            }
            result.seconds = (reached - child.started) / .seconds(1)
            if let writtenAt = written?.waitForTarget(timeout: 10, abort: { false }) {
                result.writtenSeconds = (writtenAt - child.started) / .seconds(1)
            } else if kind.isPassThrough && !kind.isTransactional {
                result.writtenSeconds = result.seconds
            }
            result.cpuSeconds = usage?.cpuSeconds
            result.peakRSSBytes = usage?.peakRSSBytes
            result.topThreads = Array((usage?.threads ?? []).prefix(4))
            if let brokerBefore, let brokerAfter { result.brokerCPUSeconds = brokerAfter - brokerBefore }
            result.verdict = try verify(kind, topic: output, expected: expected, windows: windows)
        } catch {
            result.failure = "\(error)"
            result.verdict = "FAILED"
        }
        return result
    }

    /// With `--profile`: `perf record -g` attached to `process`, writing `<work>/<name>.perf.data`.
    func startProfiler(of process: MeasuredProcess, name: String) -> MeasuredProcess? {
        guard profile else { return nil }
        // perf -p follows only threads that exist when it attaches: give the job time to start its task threads.
        usleep(400_000)
        return try? MeasuredProcess(
            name: "perf", executable: "/usr/bin/env",
            arguments: ["perf", "record", "-F", "999", "-g", "-p", "\(process.pid)", "-o", "\(work)/\(name).perf.data"],
            logPath: "\(work)/\(name).perf.log")
    }

    func stopProfiler(_ profiler: MeasuredProcess?, name: String) {
        guard let profiler else { return }
        // SIGINT makes perf write its data file and exit.
        Glibc.kill(profiler.pid, SIGINT)
        let deadline = Date().addingTimeInterval(30)
        while profiler.isRunning && Date() < deadline { usleep(20_000) }
        say("  profile: perf report -i \(work)/\(name).perf.data --no-children")
    }

    /// Reads the output with the transaction-aware reader (which honours COMMIT/ABORT markers itself).
    func verify(_ kind: ContenderKind, topic: String, expected: Int, windows: Int) throws -> String {
        let reader = try TransactionAwareLogReader(bootstrap: bootstrap, connection: connection)
        var committed = 0
        var values: [[UInt8]] = []
        for partition in 0..<2 {
            let log = try reader.readPartition(TopicPartition(topic, Int32(partition)))
            let records = log.committedRecordsBelowLastStableOffset
            committed += records.count
            if !kind.isPassThrough { values += records.compactMap(\.value) }
        }
        if kind.isPassThrough {
            if committed == expected { return "exact (\(committed))" }
            if kind.isTransactional || committed < expected {
                throw BenchError.verificationFailed(name: kind.rawValue, detail: "\(committed) committed records, expected \(expected)")
            }
            return "\(committed - expected) duplicates"
        }
        let verdict = ClickCountVerdict(outputValues: values, windows: windows, allowFurtherWindows: false)
        guard verdict.isExact else { throw BenchError.verificationFailed(name: kind.rawValue, detail: "\(verdict)") }
        return "exact (\(committed) windows×pages)"
    }

    /// Latency phase: the contender runs on fresh topics while events are written live at `rate`;
    /// latency = time a read_committed consumer first sees the output record − its input's produce time.
    /// `tag` names its topics, logs and checkpoints (default: the contender's name); runs of one contender need one each.
    func latency(_ kind: ContenderKind, rate: Double, seconds: Double, tag: String? = nil, into result: inout ContenderResult) {
        let name = tag ?? kind.rawValue
        recordLatency(name: name, rate: rate, seconds: seconds, into: &result) { input, output in
            let (executable, arguments) = command(kind, input: input, output: output, tag: "lat-\(name)")
            return [try MeasuredProcess(name: kind.rawValue, executable: executable, arguments: arguments, logPath: "\(work)/lat-\(name).log")]
        }
    }

    /// The latency phase of a pass-through that `start` runs on (input, output) as one or more
    /// processes; `name` names its topics; the input has `partitions`, the output `outputPartitions`
    /// (default: as many). Probes until the
    /// first record comes through (startup is not latency), then `warmupSeconds` of live input
    /// that is not measured, then `seconds` that are.
    func recordLatency(
        name: String, partitions: Int32 = 2, outputPartitions: Int32? = nil, rate: Double, seconds: Double, warmupSeconds: Double = 0,
        into result: inout ContenderResult,
        start: (_ input: String, _ output: String) throws -> [MeasuredProcess]
    ) {
        let input = "bench-lat-in-\(name)-\(runId)"
        let output = "bench-lat-out-\(name)-\(runId)"
        let count = Int(rate * seconds)
        let warmup = Int(rate * warmupSeconds)
        do {
            try createTopic(input, partitions: partitions)
            try createTopic(output, partitions: outputPartitions ?? partitions)
            let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: partitions, clientProperties: clientProperties)
            defer { generator.close() }
            let watcher = try OutputWatcher(bootstrap: bootstrap, topic: output, target: .max, recordLatencies: true, clientProperties: clientProperties)
            defer { watcher.stop() }
            let jobs = try start(input, output)
            defer { jobs.forEach { $0.kill() } }
            // Probes until the pipeline is live (its startup is not latency).
            var probes = 0
            let deadline = Date().addingTimeInterval(60)
            while watcher.count == 0 {
                guard Date() < deadline, jobs.allSatisfy(\.isRunning) else {
                    throw BenchError.timedOut(what: "latency probe of \(name)", seconds: 60, detail: jobs.map { $0.logTail() }.joined(separator: "\n"))
                }
                try generator.produce(index: Int64(probes))
                probes += 1
                try generator.flush()
                usleep(100_000)
            }
            if warmup > 0 { try generator.write(from: Int64(probes), count: warmup, rate: rate) }
            let measureFrom = Int64(Date().timeIntervalSince1970 * 1000)
            try generator.write(from: Int64(probes + warmup), count: count, rate: rate)
            let total = probes + warmup + count
            guard watcher.waitForCount(above: total - 1, timeout: 60) != nil else {
                throw BenchError.timedOut(what: "latency phase of \(name)", seconds: 60, detail: "\(watcher.count) of \(total) records seen")
            }
            let samples = watcher.snapshot.latencies.filter { $0.0 >= measureFrom }
            let latencies = samples.map(\.1).sorted()
            // Per second of produce time: the p50 and max, to tell a steady cost from a stall.
            let bySecond = Dictionary(grouping: samples) { ($0.0 - measureFrom) / 1000 }
            let line = bySecond.keys.sorted().map { second in
                let values = (bySecond[second] ?? []).map(\.1).sorted()
                return "\(second)s:\(Int(Percentiles.nearestRank(values, 0.5) ?? 0))/\(Int(values.last ?? 0))"
            }.joined(separator: " ")
            say("  latency p50/max (ms) by second of input: \(line)")
            result.latencyP50 = Percentiles.nearestRank(latencies, 0.5)
            result.latencyP99 = Percentiles.nearestRank(latencies, 0.99)
            result.latencyP999 = Percentiles.nearestRank(latencies, 0.999)
            result.latencySamples = latencies.count
        } catch {
            result.failure = "latency phase: \(error)"
        }
    }

    /// Latency phase of the click counts (one output record per window and page). Latency of an
    /// output record = the moment a read_committed consumer first sees it − the produce time of the
    /// LAST input event of its (window, page), i.e. the earliest moment the result could be known.
    /// It includes the 200 ms event-time out-of-orderness bound (at `rate` = 6,000/s event time runs
    /// at wall-clock speed; at 7,000/s about 170 ms pass before the watermark can close the window),
    /// the runtime's path and, for exactly-once, the wait for the checkpoint whose transaction
    /// commits the result (Quix: its commit every second).
    /// A first window and its closing tail are written at once and awaited (startup is not latency);
    /// then events are written live at `rate`, and only windows written entirely live are measured.
    func windowLatency(_ kind: ContenderKind, rate: Double, seconds: Double, into result: inout ContenderResult) {
        windowLatency(name: kind.rawValue, rate: rate, seconds: seconds, into: &result) { input, output in
            let (executable, arguments) = command(kind, input: input, output: output, tag: "lat-\(kind.rawValue)")
            return [try MeasuredProcess(
                name: kind.rawValue, executable: executable, arguments: arguments, logPath: "\(work)/lat-\(kind.rawValue).log")]
        }
    }

    /// The window-latency phase of a click count that `start` runs on (input, output) as one or more
    /// processes (the workers phase runs several); `name` names its topics; the input has `partitions`.
    /// `pollCommitted`: watch the output with `CommittedOutputPoller` (several writers per output
    /// partition) instead of a librdkafka read_committed consumer.
    func windowLatency(
        name: String, partitions: Int32 = 2, pollCommitted: Bool = false, rate: Double, seconds: Double, into result: inout ContenderResult,
        start: (_ input: String, _ output: String) throws -> [MeasuredProcess]
    ) {
        let input = "bench-lat-in-\(name)-\(runId)"
        let output = "bench-lat-out-\(name)-\(runId)"
        let perWindow = Int(ClickEventSequence.eventsPerWindowAllPages)
        let pages = ClickEventSequence.pages
        let warmup = perWindow + 600
        let live = Int(rate * seconds)
        do {
            try createTopic(input, partitions: partitions)
            try createTopic(output)
            let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: partitions, clientProperties: clientProperties)
            defer { generator.close() }
            let watcher: any OutputProgress = pollCommitted
                ? try CommittedOutputPoller(bootstrap: bootstrap, connection: connection, topic: output, partitions: 2)
                : try OutputWatcher(
                    bootstrap: bootstrap, topic: output, target: .max, recordLatencies: false, recordValues: true, clientProperties: clientProperties)
            defer { watcher.stop() }
            let jobs = try start(input, output)
            defer { jobs.forEach { $0.kill() } }
            try generator.write(from: 0, count: warmup)
            let deadline = Date().addingTimeInterval(120)
            while watcher.count < pages.count {
                guard Date() < deadline, jobs.allSatisfy(\.isRunning) else {
                    throw BenchError.timedOut(what: "first window of \(name)", seconds: 120, detail: jobs.map { $0.logTail() }.joined(separator: "\n"))
                }
                usleep(20_000)
            }
            var producedAt = [Double](repeating: 0, count: warmup + live)
            try generator.write(from: Int64(warmup), count: live, rate: rate, producedAt: { index, at in producedAt[Int(index)] = at })
            // Windows whose events were all written live and whose closing tail (600 events) was written too.
            let firstWindow = (warmup + perWindow - 1) / perWindow
            let endWindow = (warmup + live - 600) / perWindow
            guard endWindow > firstWindow else {
                throw BenchError.contenderFailed(name: name, detail: "the window-latency phase is too short for a whole window")
            }
            let expected = (endWindow - firstWindow) * pages.count
            var latencies: [Double] = []
            let waitUntil = Date().addingTimeInterval(60)
            while true {
                var seen: Set<[Int]> = []
                latencies = []
                for entry in watcher.visibleValues {
                    guard let stats = ClickEventStatistics.decode(entry.value),
                          let pageIndex = pages.firstIndex(of: stats.page)
                    else { continue }
                    let window = Int(stats.windowStart / ClickEventSequence.windowSizeMilliseconds)
                    guard window >= firstWindow, window < endWindow, seen.insert([window, pageIndex]).inserted else { continue }
                    let lastEvent = (window + 1) * perWindow - pages.count + pageIndex
                    latencies.append(entry.atMillis - producedAt[lastEvent])
                }
                if latencies.count >= expected { break }
                guard Date() < waitUntil else {
                    throw BenchError.timedOut(what: "window-latency phase of \(name)", seconds: 60, detail: "\(latencies.count) of \(expected) window results seen")
                }
                usleep(50_000)
            }
            latencies.sort()
            say(String(format: "  window latency: %d results of %d windows, min %.0f ms, max %.0f ms", latencies.count, endWindow - firstWindow,
                       latencies.first ?? 0, latencies.last ?? 0))
            result.latencyP50 = Percentiles.nearestRank(latencies, 0.5)
            result.latencyP99 = Percentiles.nearestRank(latencies, 0.99)
            result.latencySamples = latencies.count
        } catch {
            result.failure = "window-latency phase: \(error)"
        }
    }

    /// A periodic checkpoint of `keys` keys of heap keyed state, in a child process.
    func stateCheckpoint(keys: Int) -> StateResult {
        var result = StateResult(keys: keys)
        do {
            let child = try MeasuredProcess(
                name: "state", executable: selfPath,
                arguments: ["state-checkpoint", "--keys", "\(keys)", "--checkpoint-dir", "\(work)/state-checkpoints"],
                logPath: "\(work)/state-checkpoint.log")
            let deadline = Date().addingTimeInterval(min(timeout, 300))
            while child.isRunning && Date() < deadline { usleep(20_000) }
            child.kill()
            guard let line = child.log.split(separator: "\n").first(where: { $0.hasPrefix("STATE-CHECKPOINT ") }) else {
                result.failure = "no figure printed; log tail:\n\(child.logTail())"
                return result
            }
            for field in line.split(separator: " ") {
                let parts = field.split(separator: "=")
                guard parts.count == 2 else { continue }
                if parts[0] == "bytes" { result.bytes = Int(parts[1]) }
                if parts[0] == "ms" { result.millis = Double(parts[1]) }
            }
        } catch {
            result.failure = "\(error)"
        }
        return result
    }

    /// Committed output records of a topic, by the transaction-aware reader (aborted records, which
    /// the embedded broker shows to read_committed consumers, do not count).
    func committedCount(_ topic: String, reader: TransactionAwareLogReader) throws -> Int {
        var total = 0
        for partition in 0..<2 {
            total += try reader.readPartition(TopicPartition(topic, Int32(partition))).committedRecordsBelowLastStableOffset.count
        }
        return total
    }

    /// Kills the click-count job with SIGKILL while input arrives live, restarts it, and times from
    /// the new process's start until the committed output grows.
    func restarts(rounds: Int, rate: Double) -> RestartResult {
        var result = RestartResult()
        let input = "bench-restart-in-\(runId)"
        let output = "bench-restart-out-\(runId)"
        do {
            try createTopic(input)
            try createTopic(output)
            let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: 2, clientProperties: clientProperties)
            let stop = StopFlag()
            let writer = Thread {
                try? generator.write(from: 0, count: Int.max / 2, rate: rate) { stop.value.load(ordering: .acquiring) }
                stop.done.store(true, ordering: .releasing)
            }
            writer.start()
            defer {
                stop.value.store(true, ordering: .releasing)
                while !stop.done.load(ordering: .acquiring) { usleep(10_000) }
                generator.close()
            }
            let reader = try TransactionAwareLogReader(bootstrap: bootstrap, connection: connection)
            let (executable, arguments) = command(.clickCount, input: input, output: output, tag: "restart")
            var job = try MeasuredProcess(name: "restart-0", executable: executable, arguments: arguments, logPath: "\(work)/restart-0.log")
            defer { job.kill() }
            try waitForCommitted(output, above: 11, reader: reader, timeout: 60, job: job)
            for round in 1...rounds {
                job.kill()
                let before = try committedCount(output, reader: reader)
                job = try MeasuredProcess(
                    name: "restart-\(round)", executable: executable, arguments: arguments, logPath: "\(work)/restart-\(round).log")
                let seen = try waitForCommitted(output, above: before, reader: reader, timeout: 60, job: job)
                result.seconds.append((seen - job.started) / .seconds(1))
                // Let it run normally for a moment (two more windows) before the next kill.
                try waitForCommitted(output, above: try committedCount(output, reader: reader) + 11, reader: reader, timeout: 60, job: job)
            }
        } catch {
            result.failure = "\(error)"
        }
        return result
    }

    /// The playground's backpressure scenario on a backlog of `windows` windows: the click-count
    /// job with its slow operator (`pauseMillis` per event, every minute), once with aligned
    /// checkpoints and once with unaligned ones, each until its output is complete and checked.
    func backpressure(windows: Int, pauseMillis: Int) -> BackpressureResult {
        var result = BackpressureResult()
        result.pauseMillis = pauseMillis
        result.events = ClickInput.eventCount(windows: windows)
        do {
            for unaligned in [false, true] {
                let tag = unaligned ? "backpressure-unaligned" : "backpressure-aligned"
                let input = "bench-\(tag)-in-\(runId)"
                let output = "bench-\(tag)-out-\(runId)"
                try createTopic(input)
                try createTopic(output)
                let generator = try ClickInput(bootstrap: bootstrap, topic: input, partitions: 2, clientProperties: clientProperties)
                try generator.write(from: 0, count: result.events)
                generator.close()
                let expected = windows * ClickEventSequence.pages.count
                let watcher = try OutputWatcher(
                    bootstrap: bootstrap, topic: output, target: expected, recordLatencies: false, clientProperties: clientProperties)
                defer { watcher.stop() }
                let (executable, arguments) = command(.clickCount, input: input, output: output, tag: tag)
                let extra = ["--backpressure", "--backpressure-every-minute", "--backpressure-pause-ms", "\(pauseMillis)"]
                    + (unaligned ? ["--unaligned-checkpoints"] : [])
                let child = try MeasuredProcess(name: tag, executable: executable, arguments: arguments + extra, logPath: "\(work)/\(tag).log")
                let reached = watcher.waitForTarget(timeout: timeout) { !child.isRunning }
                child.kill()
                var run = BackpressureResult.Run()
                run.checkpoints = CheckpointLogSummary(log: child.log)
                guard let reached else {
                    throw BenchError.contenderFailed(name: tag, detail: "output incomplete (\(watcher.count) of \(expected)); log tail:\n\(child.logTail())")
                }
                run.seconds = (reached - child.started) / .seconds(1)
                run.verdict = try verify(.clickCount, topic: output, expected: expected, windows: windows)
                if unaligned { result.unaligned = run } else { result.aligned = run }
            }
        } catch {
            result.failure = "\(error)"
        }
        return result
    }

    @discardableResult
    private func waitForCommitted(_ topic: String, above count: Int, reader: TransactionAwareLogReader, timeout: Double, job: MeasuredProcess) throws -> ContinuousClock.Instant {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try committedCount(topic, reader: reader) > count { return .now }
            guard job.isRunning else { throw BenchError.contenderFailed(name: job.name, detail: "exited; log tail:\n\(job.logTail())") }
            usleep(20_000)
        }
        throw BenchError.timedOut(what: "committed output of \(job.name)", seconds: timeout, detail: job.logTail())
    }
}

/// Stops the restart phase's generator thread.
final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
}
