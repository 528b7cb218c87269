import ArgumentParser
import Foundation
import SluiceApp
import SluiceClickCount
import SluiceKafkaWire
import SluiceEmbeddedBroker

#if canImport(Glibc)
import Glibc
#endif

/// The figures of one contender.
struct ContenderResult {
    var key: String
    var label: String
    var events = 0
    var seconds: Double?
    var cpuSeconds: Double?
    var peakRSSBytes: Int?
    var brokerCPUSeconds: Double?
    var latencyP50: Double?
    var latencyP99: Double?
    var latencyP999: Double?
    var latencySamples = 0
    var checkpoints: CheckpointLogSummary?
    var verdict = "not run"
    var failure: String?
    var topThreads: [(name: String, cpuSeconds: Double)] = []

    /// Pass-throughs: until a read_uncommitted reader saw all output (written, maybe not yet committed).
    var writtenSeconds: Double?

    var recordsPerSecond: Double? { seconds.map { Double(events) / $0 } }
    var writtenRecordsPerSecond: Double? { writtenSeconds.map { Double(events) / $0 } }
}

/// The contenders, in the order they run.
enum ContenderKind: String, CaseIterable, ExpressibleByArgument {
    case raw, sluiceAtLeastOnce = "sluice-alo", sluiceExactlyOnce = "sluice-eos", clickCount = "click-count", quix

    var label: String {
        switch self {
        case .raw: return "(a) raw librdkafka pass-through"
        case .sluiceAtLeastOnce: return "(b) Sluice pass-through, at-least-once"
        case .sluiceExactlyOnce: return "(b) Sluice pass-through, exactly-once"
        case .clickCount: return "(c) Sluice click-count, exactly-once"
        case .quix: return "(d) Quix Streams click-count, exactly-once"
        }
    }

    var isPassThrough: Bool { self == .raw || self == .sluiceAtLeastOnce || self == .sluiceExactlyOnce }
    var isTransactional: Bool { self != .raw && self != .sluiceAtLeastOnce }
}

struct BenchRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs every contender against one embedded broker and prints the table (the default subcommand).")

    @Option(help: "Input events (at least; rounded up to whole 15 s windows plus a 600-event tail).") var events = 1_000_000
    @Flag(help: "Tiny run for the smoke test: 20,000 events, short latency phase, 20,000 state keys, one restart.") var quick = false
    @Option(help: "Contenders to run (raw, sluice-alo, sluice-eos, click-count, quix); default all.") var only: [ContenderKind] = []
    @Flag(help: "Skip Quix Streams even when it is installed.") var skipQuix = false
    @Option(help: "Events per second written live during the latency phase.") var latencyRate: Double = 20_000
    @Option(help: "Seconds of live input in the latency phase.") var latencySeconds: Double = 10
    @Option(help: "Events per second written live in the click counts' latency phase (a window per 6000 events; 7000/s keeps windows out of step with the 1 s checkpoints, so results wait a spread of times for their commit).")
    var windowLatencyRate: Double = 7000
    @Option(help: "Seconds of live input in the click counts' latency phase.") var windowLatencySeconds: Double = 20
    @Option(help: "Keys of heap state in the state-checkpoint measurement.") var stateKeys = 1_000_000
    @Option(help: "Kill-and-restart rounds of the click-count job.") var restarts = 3
    @Option(help: "Windows of backlog in the backpressure phase (the click-count job behind its slow operator, aligned then unaligned checkpoints); 0 skips it.")
    var backpressureWindows = 4
    @Option(help: "The slow operator's pause per event in the backpressure phase, in milliseconds.") var backpressurePauseMs = 1
    @Option(help: "Input events of the workers phase (at least; whole windows plus a 600-event tail): the pass-through (with sluice-eos among the contenders) and the click count (with click-count) as one process without and with a keyBy through the repartition topic, then as several worker processes; 0 skips it.")
    var workersEvents = 120_000
    @Option(help: "Worker counts of the workers phase, e.g. 1,2,3 (1: one process without the hop, then with it).")
    var workersCounts = WorkerCounts([1, 2, 3])
    @Option(help: "Seconds of live input in each of the workers phase's latency runs (the pass-through at --latency-rate, the click count at --window-latency-rate).")
    var workersLatencySeconds: Double = 15
    @Option(help: "Events per second written while measuring restarts (6000 = one window per second).") var restartRate: Double = 6000
    @Option(help: "Folder of the click-count-job executable; default: next to this one.") var binDir: String?
    @Option(help: "The Quix Streams app.") var quixScript: String?
    @Option(help: "Python interpreter with quixstreams installed.") var python = "python3"
    @Option(help: "Folder for logs and checkpoints; default: a fresh temporary one.") var workDir: String?
    @Option(help: "Write the results as JSON here too.") var json: String?
    @Option(help: "Seconds a contender may take before it counts as failed.") var timeout: Double = 900
    @Flag(help: "Profile each contender's throughput run with perf (perf adds overhead: compare figures of unprofiled runs only).")
    var profile = false
    @Flag(help: "Steady-state mode instead of the default bench: each contender on a sustained backlog (--steady-events), the committed output rate over the middle of the run (20%-80% of its time) and over the whole run, CPU per million records (job, broker), peak RSS; min/median/max over --repetitions.")
    var steadyState = false
    @Flag(help: "Latency-sweep mode instead of the default bench (with --steady-state: after it): the exactly-once pass-through at each of --sweep-intervals, e2e p50/p99/p99.9 at --latency-rate live, and its throughput on the backlog.")
    var latencySweep = false
    @Option(help: "Input events of the steady-state and sweep modes (the pass-throughs run until all are committed).")
    var steadyEvents = 10_000_000
    @Option(help: "Seconds the click counts run in the steady-state mode (they stop earlier when their output is complete).")
    var steadySeconds: Double = 60
    @Option(help: "Repetitions of the steady-state mode (default 3) and of the latency sweep (default 1).") var repetitions: Int?
    @Option(parsing: .upToNextOption, help: "Checkpoint intervals (ms) of the latency sweep.") var sweepIntervals: [Int] = [100, 250, 1000]
    @OptionGroup var client: ClientConfigOptions

    mutating func validate() throws {
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be at least 1") }
        if steadyEvents < 1 { throw ValidationError("--steady-events must be at least 1") }
        if sweepIntervals.isEmpty || sweepIntervals.contains(where: { $0 < 1 }) {
            throw ValidationError("--sweep-intervals takes checkpoint intervals of at least 1 ms, e.g. --sweep-intervals 100 250 1000")
        }
        if workersEvents < 0 { throw ValidationError("--workers-events must not be negative (0 skips the workers phase)") }
        let most = WorkersContender.maxParallelism
        if workersCounts.values.isEmpty || workersCounts.values.contains(where: { $0 < 1 || $0 > most }) {
            throw ValidationError("--workers-counts takes worker counts from 1 to \(most) (the phase's key groups), e.g. --workers-counts 1,2,3")
        }
    }

    mutating func run() throws {
        if quick {
            events = min(events, 20_000)
            latencyRate = min(latencyRate, 5000)
            latencySeconds = min(latencySeconds, 2)
            windowLatencySeconds = min(windowLatencySeconds, 3)
            stateKeys = min(stateKeys, 20_000)
            restarts = min(restarts, 1)
            backpressureWindows = min(backpressureWindows, 1)
            // One window (6,600 events) per contender of the workers phase.
            workersEvents = min(workersEvents, 6600)
            workersLatencySeconds = min(workersLatencySeconds, 3)
            timeout = min(timeout, 120)
        }
        let selfPath = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let bin = binDir ?? URL(fileURLWithPath: selfPath).deletingLastPathComponent().path
        let work = workDir ?? NSTemporaryDirectory() + "sluice-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let root = ProcessInfo.processInfo.environment["SLUICE_ROOT"]
            ?? URL(fileURLWithPath: bin).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let script = quixScript ?? root + "/scripts/bench/quix_clickcount.py"

        var kinds = only.isEmpty ? ContenderKind.allCases : ContenderKind.allCases.filter { only.contains($0) }
        if kinds.contains(.quix) {
            if skipQuix {
                kinds.removeAll { $0 == .quix }
            } else if !Self.quixAvailable(python: python) || !FileManager.default.fileExists(atPath: script) {
                say("Quix Streams is not installed for \(python) (or \(script) is missing): skipping contender (d). "
                    + "Install it with: \(python) -m pip install quixstreams")
                kinds.removeAll { $0 == .quix }
            }
        }

        if kinds.contains(.quix), !(try client.resolved()).isEmpty {
            say("The Quix Streams contender (d) takes no client settings (-X, --client-config): skipping it.")
            kinds.removeAll { $0 == .quix }
        }
        say(Machine.describe())
        let broker = try EmbeddedBroker.start()
        defer { broker.stop() }
        let brokerPid = Machine.brokerPid(port: broker.port)
        say("Broker: \(broker.isEmbedded ? "embedded Tansu" : "external") at \(broker.bootstrap)\(brokerPid.map { " (pid \($0))" } ?? "")")
        say("Work folder (logs, checkpoints): \(work)")

        let runId = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var bench = Bench(
            bootstrap: broker.bootstrap, broker: broker, brokerPid: brokerPid, selfPath: selfPath, binDir: bin, work: work,
            python: python, quixScript: script, timeout: timeout, runId: runId)
        bench.profile = profile
        bench.clientProperties = try client.resolved()
        bench.connection = try client.connectionOptions()

        if steadyState || latencySweep {
            try runModes(bench: bench, kinds: kinds, runId: runId, work: work)
            return
        }

        let input = "bench-input-\(runId)"
        // One input for every contender, written once, as fast as the generator goes.
        let windows = ClickInput.windows(forAtLeast: events)
        let total = ClickInput.eventCount(windows: windows)
        try bench.createTopic(input)
        let generator = try ClickInput(bootstrap: broker.bootstrap, topic: input, partitions: 2, clientProperties: bench.clientProperties)
        let began = ContinuousClock.now
        try generator.write(from: 0, count: total)
        let generated = (ContinuousClock.now - began) / .seconds(1)
        generator.close()
        say(String(format: "Input: %d click events (%d windows + 600 tail) pre-generated in %.2f s (%.0f events/s), 2 partitions.",
                     total, windows, generated, Double(total) / generated))

        var results: [ContenderResult] = []
        for kind in kinds {
            say("\n== \(kind.label)")
            var result = bench.throughput(kind, input: input, events: total, windows: windows)
            if kind.isPassThrough && result.failure == nil {
                bench.latency(kind, rate: latencyRate, seconds: latencySeconds, into: &result)
            } else if !kind.isPassThrough && result.failure == nil {
                bench.windowLatency(kind, rate: windowLatencyRate, seconds: windowLatencySeconds, into: &result)
            }
            Report.printLine(result)
            results.append(result)
        }

        say("\n== Heap-state checkpoint of \(stateKeys) keys")
        let state = bench.stateCheckpoint(keys: stateKeys)
        say(state.summary)

        var restart = RestartResult()
        if kinds.contains(.clickCount) && restarts > 0 {
            say("\n== Restart to first committed output (click-count job, 1 s checkpoints, SIGKILL)")
            restart = bench.restarts(rounds: restarts, rate: restartRate)
            say(restart.summary)
        }

        var backpressure: BackpressureResult?
        if kinds.contains(.clickCount) && backpressureWindows > 0 {
            say("\n== Checkpoints under backpressure (click-count job, slow operator \(backpressurePauseMs) ms per event, aligned then unaligned)")
            let measured = bench.backpressure(windows: backpressureWindows, pauseMillis: backpressurePauseMs)
            say(measured.summary)
            backpressure = measured
        }

        var workers: [WorkersResult] = []
        let workersJobs = (kinds.contains(.sluiceExactlyOnce) ? [WorkersJob.passThrough] : []) + (kinds.contains(.clickCount) ? [.clickCount] : [])
        if !workersJobs.isEmpty && workersEvents > 0 {
            say("\n== Jobs as worker processes (\(workersJobs.map(\.rawValue).joined(separator: ", ")); keyBy through the repartition topic; "
                + "-p 1 each, \(WorkersContender.maxParallelism) key groups)")
            workers = bench.workers(
                events: workersEvents, jobs: workersJobs, counts: workersCounts.values, recordRate: latencyRate,
                windowRate: windowLatencyRate, seconds: workersLatencySeconds)
        }

        say("")
        let checks = Report.checks(results: results, state: state, restart: restart, backpressure: backpressure, workers: workers)
        Report.printTable(results: results, state: state, restart: restart, backpressure: backpressure, workers: workers, checks: checks)
        if let json {
            try Report.writeJSON(path: json, results: results, state: state, restart: restart, workers: workers, checks: checks, events: total)
        }
        let failed = results.filter { $0.failure != nil }.map(\.key)
            + workers.filter { $0.figures.failure != nil }.map { "workers \($0.contender.key)" }
        if !failed.isEmpty {
            throw BenchError.contenderFailed(name: failed.joined(separator: ", "), detail: "see the log files in \(work)")
        }
        if state.failure != nil || restart.failure != nil || backpressure?.failure != nil {
            throw BenchError.contenderFailed(
                name: "state/restart/backpressure", detail: (state.failure ?? "") + (restart.failure ?? "") + (backpressure?.failure ?? ""))
        }
    }

    /// The steady-state mode and the latency sweep, on one pre-generated input of --steady-events.
    func runModes(bench: Bench, kinds: [ContenderKind], runId: String, work: String) throws {
        let input = "bench-steady-input-\(runId)"
        let windows = ClickInput.windows(forAtLeast: steadyEvents)
        let total = ClickInput.eventCount(windows: windows)
        try bench.createTopic(input)
        let generator = try ClickInput(bootstrap: bench.bootstrap, topic: input, partitions: 2, clientProperties: bench.clientProperties)
        let began = ContinuousClock.now
        try generator.write(from: 0, count: total)
        let generated = (ContinuousClock.now - began) / .seconds(1)
        generator.close()
        say(String(format: "Input: %d click events (%d windows + 600 tail) pre-generated in %.2f s (%.0f events/s), 2 partitions.",
                   total, windows, generated, Double(total) / generated))

        var checks: [Check] = []
        var steadyResults: [SteadyResult] = []
        let steadyRepetitions = repetitions ?? 3
        if steadyState {
            for repetition in 1...steadyRepetitions {
                for kind in kinds {
                    say("\n== Steady state, repetition \(repetition) of \(steadyRepetitions): \(kind.label)")
                    let result = bench.steady(
                        kind, input: input, events: total, windows: windows, seconds: steadySeconds, repetition: repetition,
                        tag: "steady-\(kind.rawValue)-\(repetition)")
                    SteadyReport.printLine(result)
                    if !kind.isPassThrough && !result.stoppedAtDuration && result.failure == nil, let run = result.runSeconds, run < steadySeconds {
                        say(String(format: "  (its input was done after %.1f s, before --steady-seconds %.0f: more --steady-events make a longer run)", run, steadySeconds))
                    }
                    steadyResults.append(result)
                }
            }
        }
        var sweepResults: [SweepResult] = []
        let sweepRepetitions = repetitions ?? 1
        if latencySweep {
            for repetition in 1...sweepRepetitions {
                for interval in sweepIntervals {
                    say("\n== Latency sweep, repetition \(repetition) of \(sweepRepetitions): exactly-once pass-through, \(interval) ms checkpoints")
                    var atInterval = bench
                    atInterval.passThroughCheckpointIntervalMs = interval
                    let tag = "sweep-\(interval)ms-\(repetition)"
                    var latency = ContenderResult(key: ContenderKind.sluiceExactlyOnce.rawValue, label: ContenderKind.sluiceExactlyOnce.label)
                    atInterval.latency(.sluiceExactlyOnce, rate: latencyRate, seconds: latencySeconds, tag: tag, into: &latency)
                    if let failure = latency.failure { say("FAILED latency at \(interval) ms: \(failure)") }
                    let throughput = atInterval.steady(
                        .sluiceExactlyOnce, input: input, events: total, windows: windows, seconds: steadySeconds, repetition: repetition, tag: tag)
                    say("RESULT-SWEEP interval_ms=\(interval) repetition=\(repetition) p50_ms=\(Report.fmt(latency.latencyP50, "%.0f")) "
                        + "p99_ms=\(Report.fmt(latency.latencyP99, "%.0f")) p999_ms=\(Report.fmt(latency.latencyP999, "%.0f")) "
                        + "latency_samples=\(latency.latencySamples) middle_records_per_s=\(Report.fmt(throughput.middle?.rate, "%.0f")) "
                        + "whole_records_per_s=\(Report.fmt(throughput.wholeRate, "%.0f")) checkpoints=\(throughput.checkpoints?.count ?? 0) "
                        + "verdict=\"\(throughput.verdict)\"")
                    if let failure = throughput.failure { say("FAILED throughput at \(interval) ms: \(failure)") }
                    sweepResults.append(SweepResult(intervalMillis: interval, repetition: repetition, latency: latency, throughput: throughput))
                }
            }
        }

        say("")
        say(Machine.describe().replacingOccurrences(of: "at start", with: "at the end"))
        if steadyState {
            say("")
            checks += SteadyReport.summarize(steadyResults, kinds: kinds, repetitions: steadyRepetitions)
        }
        if latencySweep {
            say("")
            checks += SteadyReport.summarizeSweep(sweepResults, intervals: sweepIntervals, rate: latencyRate)
        }
        say("")
        for check in checks { say("\(check.verdict)  \(check.name): \(check.measured)") }
        if let json {
            try SteadyReport.writeJSON(path: json, steady: steadyResults, sweep: sweepResults, checks: checks, events: total)
        }
        let failed = steadyResults.filter { $0.failure != nil }.map { "\($0.kind.rawValue) (repetition \($0.repetition))" }
            + sweepResults.filter { $0.latency.failure != nil || $0.throughput.failure != nil }.map { "sweep \($0.intervalMillis) ms (repetition \($0.repetition))" }
        if !failed.isEmpty {
            throw BenchError.contenderFailed(name: failed.joined(separator: ", "), detail: "see the log files in \(work)")
        }
    }

    static func quixAvailable(python: String) -> Bool {
        guard let process = try? MeasuredProcess(
            name: "quix-check", executable: "/usr/bin/env", arguments: [python, "-c", "import quixstreams"],
            logPath: NSTemporaryDirectory() + "sluice-bench-quix-check.log")
        else { return false }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard let status = process.exitStatus else { return false }
        return status == 0
    }
}

/// Prints and flushes at once, so progress shows while the bench runs even into a file or pipe.
/// (`fflush(nil)` flushes every stream: Swift 6 refuses to touch the C global `stdout`.)
func say(_ text: String) {
    print(text)
    fflush(nil)
}
