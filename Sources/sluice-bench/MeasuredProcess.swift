import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and memory of one process, read from /proc (all its threads).
struct ProcessUsage: Sendable {
    var cpuSeconds: Double
    var peakRSSBytes: Int
    /// CPU seconds per thread name, largest first (a poor man's profile).
    var threads: [(name: String, cpuSeconds: Double)]

    /// Reads /proc/<pid>/stat, /proc/<pid>/status and /proc/<pid>/task/*/stat; nil once the process is gone.
    static func read(pid: Int32) -> ProcessUsage? {
        guard let stat = cpuTicks(path: "/proc/\(pid)/stat") else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var peak = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
                peak = kb * 1024
            }
        }
        var perName: [String: Double] = [:]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks {
            guard let (name, cpu) = cpuTicksAndName(path: "/proc/\(pid)/task/\(task)/stat") else { continue }
            perName[normalizedThreadName(name), default: 0] += Double(cpu) / ticks
        }
        let threads = perName.map { (name: $0.key, cpuSeconds: $0.value) }.sorted { $0.cpuSeconds > $1.cpuSeconds }
        return ProcessUsage(cpuSeconds: Double(stat) / ticks, peakRSSBytes: peak, threads: threads)
    }

    /// CPU seconds of the process alone (one /proc read, cheap enough to sample every 50 ms); nil once it is gone.
    static func cpuSeconds(pid: Int32) -> Double? {
        cpuTicks(path: "/proc/\(pid)/stat").map { Double($0) / Double(sysconf(Int32(_SC_CLK_TCK))) }
    }

    /// Groups librdkafka's per-broker threads ("rdk:broker1", "rdk:broker-1") under one name.
    static func normalizedThreadName(_ name: String) -> String {
        name.hasPrefix("rdk:broker") ? "rdk:broker*" : name
    }

    private static func cpuTicks(path: String) -> Int? {
        cpuTicksAndName(path: path)?.1
    }

    /// utime + stime (fields 14 and 15) and the command name of a /proc stat line.
    private static func cpuTicksAndName(path: String) -> (String, Int)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")")
        else { return nil }
        let name = String(text[text.index(after: open)..<close])
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); utime is field 14 → index 11, stime index 12.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return (name, user + system)
    }
}

/// Errors starting a contender.
enum BenchError: Error, CustomStringConvertible {
    case spawnFailed(executable: String, errno: Int32)
    case timedOut(what: String, seconds: Double, detail: String)
    case contenderFailed(name: String, detail: String)
    case verificationFailed(name: String, detail: String)

    var description: String {
        switch self {
        case .spawnFailed(let executable, let code):
            return "Could not start \(executable): \(String(cString: strerror(code))). Build it first (scripts/bench.sh does)."
        case .timedOut(let what, let seconds, let detail):
            return "\(what) did not finish within \(Int(seconds)) s: \(detail)"
        case .contenderFailed(let name, let detail):
            return "Contender \(name) failed: \(detail)"
        case .verificationFailed(let name, let detail):
            return "The output of \(name) is wrong: \(detail)"
        }
    }
}

/// A child process started with posix_spawn, its output in a log file. Spawning it ourselves (rather
/// than with Foundation's Process) lets us reap it with wait4 and read its own rusage, and keeps
/// Foundation's reaper from racing our /proc reads.
final class MeasuredProcess {
    let name: String
    let pid: Int32
    let logPath: String
    let started: ContinuousClock.Instant
    private(set) var exitStatus: Int32?
    private(set) var rusageAtExit: rusage?

    init(name: String, executable: String, arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.name = name
        self.logPath = logPath
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)

        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let code = posix_spawn(&child, executable, &fileActions, nil, argv, envp)
        guard code == 0 else { throw BenchError.spawnFailed(executable: executable, errno: code) }
        pid = child
        started = .now
    }

    /// Reaps the child if it has exited (non-blocking).
    var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        var usage = rusage()
        let reaped = wait4(pid, &status, WNOHANG, &usage)
        if reaped == pid {
            exitStatus = status
            rusageAtExit = usage
            return false
        }
        return reaped == 0
    }

    var usage: ProcessUsage? { ProcessUsage.read(pid: pid) }

    /// SIGTERM, then SIGKILL after `grace` seconds; reaps the child.
    func stop(grace: Double = 5) {
        guard isRunning else { return }
        Glibc.kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(20_000) }
        kill()
    }

    /// SIGKILL and reap.
    func kill() {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        var usage = rusage()
        if wait4(pid, &status, 0, &usage) == pid {
            exitStatus = status
            rusageAtExit = usage
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func logTail(lines: Int = 15) -> String {
        log.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    deinit { kill() }
}

/// The runtime's checkpoint log lines: "Checkpoint N complete (B bytes, W of them written now, D ms)."
struct CheckpointLogSummary: Sendable {
    var count = 0
    var durationsMillis: [Double] = []
    var lastBytes = 0
    var maxBytes = 0

    /// Exactly-once sinks: per committed transaction, the flush at the barrier and the commit (ms).
    var flushMillis: [Double] = []
    var commitMillis: [Double] = []

    init(log: String) {
        for line in log.split(separator: "\n") {
            if line.contains("Committed the transaction of checkpoint "), let range = line.range(of: "flush at the barrier ") {
                // "... (<n> records; flush at the barrier <f> ms, commit <c> ms)."
                let tail = line[range.upperBound...]
                let fields = tail.split(separator: " ")
                if fields.count >= 4, let flush = Double(fields[0]), let commit = Double(fields[3]) {
                    flushMillis.append(flush)
                    commitMillis.append(commit)
                }
                continue
            }
            guard let range = line.range(of: "Checkpoint "), line.contains(" complete (") else { continue }
            let tail = line[range.upperBound...]
            // "<id> complete (<bytes> bytes[, <written> of them written now], <ms> ms)."
            guard let open = tail.firstIndex(of: "("), let close = tail.firstIndex(of: ")") else { continue }
            let inside = tail[tail.index(after: open)..<close].split(separator: ",")
            guard inside.count >= 2, let first = inside.first, let last = inside.last,
                  let bytes = Int(first.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? ""),
                  let millis = Double(last.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            else { continue }
            count += 1
            durationsMillis.append(millis)
            lastBytes = bytes
            maxBytes = max(maxBytes, bytes)
        }
    }

    var medianMillis: Double? { Percentiles.of(durationsMillis, 0.5) }
    var maxMillis: Double? { durationsMillis.max() }
}

/// Percentiles by sorting (nearest rank); enough for a benchmark.
enum Percentiles {
    static func of(_ values: [Double], _ quantile: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return nearestRank(sorted, quantile)
    }

    static func nearestRank(_ sorted: [Double], _ quantile: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
