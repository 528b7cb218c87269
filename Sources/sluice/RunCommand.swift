import ArgumentParser
import Foundation
import SluiceOps

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `sluice run`: a job (the click-count job, or any SluiceApp job with --job) with a parallelism and
/// a checkpoint folder, optionally resumed from a savepoint or checkpoint. It replaces this process
/// with the job's executable, so signals, exit status and output are the job's own.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs a job (the click-count job, or yours with --job) exactly once, with -p and --checkpoint-dir.",
        discussion: """
            Restarts from the newest valid checkpoint in --checkpoint-dir, or resumes from --from-savepoint (a \
            savepoint or checkpoint folder; -p may differ from the one it was taken with).

            Without --job it runs click-count-job (next to this program) with checkpoints and event time. With \
            --job it runs any job built on SluiceApp (a `SluiceJob`), passing it the standard options --bootstrap, \
            --parallelism, --checkpoint-dir, --from-savepoint and --status-port. Any option sluice run does not \
            know is the job's and goes to it as given (see the job's --help), e.g. --backpressure or -X \
            security.protocol=SSL; so does everything after `--` (for a job option that shares a name with one of \
            sluice run's), and the space-separated options in $SLUICE_JOB_OPTIONS.

            Resuming happens once: the first run from a savepoint leaves a note in --checkpoint-dir, and a later run \
            with the same savepoint (a restart by a supervisor or a container's restart policy) restores the newest \
            checkpoint taken since instead of going back, as Flink's JobManager does. Pass --force-savepoint to go \
            back to the savepoint anyway (its later output is then produced again).

            Examples:
              sluice run -p 2 --checkpoint-dir /tmp/chk --status-port 8081 \\
                --transactional-id-prefix clicks-local
              sluice stop --status-url http://127.0.0.1:8081
              sluice run -p 3 --checkpoint-dir /tmp/chk --status-port 8081 \\
                --transactional-id-prefix clicks-local --from-savepoint /tmp/chk/savepoints/savepoint-...
              sluice run --job .build/debug/order-payment-join \\
                --checkpoint-dir /tmp/join --transactional-id-prefix join --payment-timeout 30s
            """)

    @OptionGroup var kafka: DemoBootstrapOption
    @Option(help: "A SluiceApp job's executable (a path, or a name next to this program); default: click-count-job.")
    var job: String?
    @Option(name: [.short, .long], help: "Parallelism of the job.") var parallelism = 2
    @Option(help: "Folder of the job's checkpoints, kept across restarts (savepoints go to its savepoints/ subfolder).")
    var checkpointDir: String
    @Option(help: "Resume from this savepoint or checkpoint folder (or its _metadata); default: $SLUICE_FROM_SAVEPOINT.")
    var fromSavepoint: String?
    @Flag(help: "Resume from --from-savepoint even if this job already resumed from it and checkpointed since.")
    var forceSavepoint = false
    @Option(help: "Serve status, metrics and savepoint requests on this port (0: a free one; the address is printed).")
    var statusPort: Int?
    @Option(help: "The click-count job's topic of click events (default: input).") var inputTopic: String?
    @Option(help: "The click-count job's topic of window statistics (default: output).") var outputTopic: String?
    @Option(help: "Folder holding the job's executable (default: next to this program).") var binDir: String?
    @Flag(help: "Print the job's command line instead of running it.") var dryRun = false
    /// Options sluice run does not know, wherever they stand, and everything after `--`, in order.
    @Argument(parsing: .allUnrecognized, help: "Options of the job (any option sluice run does not know, and all after --).")
    var jobOptions: [String] = []

    func validate() throws {
        guard parallelism >= 1 else { throw ValidationError("-p must be at least 1") }
        if job != nil, inputTopic != nil || outputTopic != nil {
            throw ValidationError("--input-topic and --output-topic are the click-count job's; give your job's topics after --.")
        }
    }

    func jobArguments(bootstrap: String, fromSavepoint: String?) -> [String] {
        var arguments = ["--bootstrap", bootstrap, "--parallelism", String(parallelism), "--checkpoint-dir", checkpointDir]
        if job == nil {
            arguments += ["--input-topic", inputTopic ?? "input", "--output-topic", outputTopic ?? "output", "--checkpointing", "--event-time"]
        }
        if let fromSavepoint { arguments += ["--from-savepoint", fromSavepoint] }
        if let statusPort { arguments += ["--status-port", String(statusPort)] }
        // Containers set options through the environment (docker-compose.yml: JOB_OPTIONS=--backpressure).
        let fromEnvironment = (ProcessInfo.processInfo.environment["SLUICE_JOB_OPTIONS"] ?? "").split(separator: " ").map(String.init)
        return arguments + fromEnvironment + passedThrough
    }

    /// The job's options as given; ArgumentParser keeps the `--` terminator among the unrecognized
    /// inputs, and the job must not see it (it would take what follows as positional arguments).
    var passedThrough: [String] {
        guard let terminator = jobOptions.firstIndex(of: "--") else { return jobOptions }
        var options = jobOptions
        options.remove(at: terminator)
        return options
    }

    func run() throws {
        let name = job ?? "click-count-job"
        let executable = name.contains("/") ? name : try (binDir ?? DemoCommand.ownFolder()) + "/" + name
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("\(executable) is missing or not executable: build it (swift build --product \((name as NSString).lastPathComponent)), "
                + "give its path to --job, or pass --bin-dir.")
        }
        guard let bootstrap = kafka.environment()["KAFKA_BOOTSTRAP"], !bootstrap.isEmpty else {
            throw ValidationError("Give --bootstrap host:port or set KAFKA_BOOTSTRAP (start a broker with `sluice broker`).")
        }
        var resumeFrom: String?
        let requested = fromSavepoint ?? ProcessInfo.processInfo.environment["SLUICE_FROM_SAVEPOINT"].flatMap { $0.isEmpty ? nil : $0 }
        if let fromSavepoint = requested {
            switch try ResumeDecision.decide(savepoint: fromSavepoint, checkpointDirectory: checkpointDir, force: forceSavepoint,
                                             nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) {
            case .savepoint(let path):
                resumeFrom = path
            case .newerCheckpoint(let id, let savepoint):
                print("[sluice run] \(savepoint) was resumed from before and checkpoint \(id) completed since: restoring the newest "
                    + "checkpoint of \(checkpointDir) instead (--force-savepoint goes back to the savepoint).")
            }
        }
        let arguments = [executable] + jobArguments(bootstrap: bootstrap, fromSavepoint: resumeFrom)
        if dryRun {
            print(arguments.joined(separator: " "))
            return
        }
        fflush(nil)
        var cArguments = arguments.map { strdup($0) } + [nil]
        execv(executable, &cArguments)
        throw RunError(description: "Cannot start \(executable): \(String(cString: strerror(errno)))")
    }
}

struct RunError: Error, CustomStringConvertible {
    let description: String
}
