import ArgumentParser
import Foundation
import SluiceOps
import SluiceRuntime

/// Where a running job's status server is: `--status-url`, else `SLUICE_STATUS_URL`.
struct StatusURLOption: ParsableArguments {
    @Option(help: "The job's status address, http://host:port (click-count-job --status-port prints it); default: $SLUICE_STATUS_URL.")
    var statusURL: String?
    @Option(help: "File holding the job's status token (its --status-token-file); default: $SLUICE_STATUS_TOKEN_FILE, else $SLUICE_STATUS_TOKEN.")
    var statusTokenFile: String?

    func client(timeoutSeconds: Int64 = 120) throws -> StatusClient {
        let token = try StatusToken.resolve(file: statusTokenFile)
        if let statusURL { return StatusClient(baseURL: statusURL, timeoutSeconds: timeoutSeconds, token: token) }
        if let environment = ProcessInfo.processInfo.environment["SLUICE_STATUS_URL"], !environment.isEmpty {
            return StatusClient(baseURL: environment, timeoutSeconds: timeoutSeconds, token: token)
        }
        throw ValidationError("Give --status-url http://host:port or set SLUICE_STATUS_URL (start the job with --status-port).")
    }
}

/// `sluice savepoint`: a savepoint of a running job, which keeps running.
struct SavepointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "savepoint",
        abstract: "Triggers a savepoint of a running job (it keeps running) and prints its path.",
        discussion: "Prints `savepoint: PATH`. Resume from it with `sluice run --from-savepoint PATH -p N`.")

    @OptionGroup var job: StatusURLOption
    @Option(help: "Folder for the savepoint, as the job sees it (default: the job's --savepoint-dir, else <checkpoint-dir>/savepoints).")
    var dir: String?
    @Option(help: "Seconds to wait for the savepoint.") var timeout: Int64 = 120

    func run() throws {
        let path = try job.client(timeoutSeconds: timeout).savepoint(stoppingJob: false, directory: dir)
        print("savepoint: \(path)")
    }
}

/// `sluice stop`: Flink's stop-with-savepoint.
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stops a running job with a savepoint and prints the savepoint's path.",
        discussion: """
            The sources stop, the savepoint is taken through the barriers, the sink's transactions are committed, \
            and the job exits 0. Open event-time windows are not fired: they are in the savepoint. Resume with \
            `sluice run --from-savepoint PATH -p N`; the output stays exactly once.
            """)

    @OptionGroup var job: StatusURLOption
    @Option(help: "Folder for the savepoint, as the job sees it (default: the job's --savepoint-dir, else <checkpoint-dir>/savepoints).")
    var dir: String?
    @Option(help: "Seconds to wait for the savepoint.") var timeout: Int64 = 120

    @Flag(help: "Return once the savepoint is written, without waiting for the job's process to exit.") var noWait = false

    func run() throws {
        let client = try job.client(timeoutSeconds: timeout)
        let path = try client.savepoint(stoppingJob: true, directory: dir)
        print("savepoint: \(path)")
        fflush(nil)  // scripts read the path from a pipe
        guard !noWait else { return }
        // The job commits its last transactions and exits; wait until its status server is gone, so
        // the next `sluice run` can take the same port.
        let deadline = Date().addingTimeInterval(Double(timeout))
        while Date() < deadline {
            do {
                _ = try StatusClient(baseURL: client.baseURL, timeoutSeconds: 2).status()
            } catch {
                print("job stopped")
                return
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        print("the job has not exited \(timeout) s after its savepoint; check its log")
        throw ExitCode(1)
    }
}

/// `sluice status`: the running job at a glance.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Shows a running job's phase, restarts, last completed checkpoint, lag per partition and time backpressured.")

    @OptionGroup var job: StatusURLOption
    @Flag(help: "Print the raw JSON of /status.") var json = false

    func run() throws {
        let report = try job.client(timeoutSeconds: 10).status()
        if json {
            print(String(decoding: report.json(), as: UTF8.self))
        } else {
            print(Self.text(report))
        }
    }

    static func text(_ report: JobStatusReport) -> String {
        let status = report.status
        var lines = ["job:           \(report.job)", "phase:         \(status.phase.rawValue)", "restarts:      \(status.restarts)"]
        if let id = status.lastCompletedCheckpoint {
            var parts = ["id \(id)"]
            if let millis = status.lastCheckpointDurationMillis { parts.append("took \(millis) ms") }
            if let bytes = status.lastCheckpointBytes { parts.append(CheckpointsCommand.byteCount(bytes)) }
            if let at = status.lastCheckpointCompletedAtMillis {
                let date = Date(timeIntervalSince1970: Double(at) / 1000)
                parts.append("at \(ISO8601DateFormatter().string(from: date)) (\(String(format: "%.1f", Date().timeIntervalSince(date))) s ago)")
            }
            lines.append("checkpoint:    " + parts.joined(separator: ", "))
        } else {
            lines.append("checkpoint:    none completed yet")
        }
        if let failure = status.lastFailure { lines.append("last failure:  \(failure)") }
        if let lost = status.lostTransactions {
            let action = switch lost.action {
            case .rewound: "rewound to checkpoint \(lost.rewoundTo.map { "\($0)" } ?? "?"); output exact"
            case .failed: "job failed; these records are missing"
            case .continued: "continued (--on-lost-transactions continue); these records are missing"
            }
            lines.append("lost txns:     checkpoint \(lost.checkpointId)'s transactions were aborted by the broker: \(action)")
            for range in lost.missing { lines.append("  \(range)") }
        }
        lines.append("backpressured: \(report.backpressuredSecondsText) s in total")
        if report.lag.isEmpty {
            lines.append("lag:           not reported yet")
        } else {
            lines.append("lag:           \(report.totalLag) records in total")
            for partition in report.lag { lines.append("  \(partition.partition): \(partition.lag)") }
        }
        return lines.joined(separator: "\n")
    }
}
