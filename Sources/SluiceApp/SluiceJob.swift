/// SluiceApp: the application layer for job authors. A job declares its dataflow in
/// `SluiceJob.build`; SluiceApp gives it the standard command line (Kafka, checkpoints, state,
/// savepoints, restarts, status server, logging), its own options through ArgumentParser, and a
/// graceful life cycle (SIGTERM/SIGINT stop it cleanly, SIGUSR1 stops it with a savepoint, SIGUSR2
/// writes one).
///
/// Owns: a job process's command line, life cycle and bootstrap. Depends on the runtime, the Kafka
/// connector and SluiceOps; must not depend on the test kit or the embedded broker.
///
/// ```swift
/// @main struct OrderTotals: SluiceJob {
///     struct Options: ParsableArguments { @Option var inputTopic = "orders" }
///     static func build(_ job: JobBuilder, options: Options) throws {
///         job.kafkaSource(topics: [options.inputTopic], name: "orders") { $0.valueString }
///             .map { $0.uppercased() }
///             .sinkTo(job, topic: "totals", name: "totals") { KafkaSinkRecord(value: Array($0.utf8)) }
///     }
/// }
/// ```
import ArgumentParser

/// A job run by SluiceApp. Implement `build`; `main()` is provided.
public protocol SluiceJob {
    /// The job's own command-line options, parsed with the standard ones (`NoOptions` when none).
    associatedtype Options: ParsableArguments = NoOptions

    /// The job's name: the command name, the runtime's job name and the default consumer group.
    /// (Not the transactional-id prefix: that names a deployment and is required for exactly-once.) Default: the type name in kebab case (`OrderTotals` → `order-totals`).
    static var name: String { get }
    /// The executable's name in `--help`. Default: `name`.
    static var commandName: String { get }
    /// One line for `--help`.
    static var abstract: String { get }
    /// Adjusts the settings parsed from the standard options before the job is declared (for a
    /// job that keeps older flags of its own, or fixes a setting). Default: nothing.
    static func configure(_ settings: inout JobSettings, options: Options) throws
    /// Declares the dataflow on `job`: sources, operators, sinks.
    static func build(_ job: JobBuilder, options: Options) throws
}

/// For jobs without options of their own.
public struct NoOptions: ParsableArguments {
    public init() {}
}

extension SluiceJob {
    public static var name: String { kebabCase(String(describing: Self.self)) }
    public static var commandName: String { name }
    public static var abstract: String { "A Sluice job: Kafka to Kafka, exactly once." }
    public static func configure(_ settings: inout JobSettings, options: Options) throws {}

    /// Parses the command line and runs the job until it ends, fails or is stopped.
    public static func main() async {
        await JobCommand<Self>.main()
    }
}

/// `OrderPaymentJoin` → `order-payment-join`.
func kebabCase(_ name: String) -> String {
    var result = ""
    for character in name {
        if character.isUppercase, !result.isEmpty { result.append("-") }
        result.append(contentsOf: character.lowercased())
    }
    return result
}

/// The command line of a `SluiceJob`: the standard options, then the job's own.
struct JobCommand<Job: SluiceJob>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: Job.commandName,
            abstract: Job.abstract,
            discussion: """
                Restores from the newest completed checkpoint in --checkpoint-dir when there is one, or from --from-savepoint. \
                SIGTERM or SIGINT stops the job gracefully: the sources stop and open transactions are aborted (exit status 0). \
                SIGUSR1 stops it with a savepoint in --savepoint-dir and prints "savepoint: PATH"; SIGUSR2 writes a savepoint \
                and keeps running. With --status-port, GET /status and GET /metrics report on it, and POST /stop and \
                POST /savepoints do the same as the signals (`sluice stop`, `sluice savepoint`). For fault injection, \
                SLUICE_CRASH_AT=POINT:N kills the process with SIGKILL at a named crash point of the Nth checkpoint it takes \
                (`sluice inject`).
                """)
    }

    @OptionGroup(title: "Standard options") var standard: StandardJobOptions
    @OptionGroup(title: "Job options") var own: Job.Options

    func validate() throws {
        _ = try standard.settings(jobName: Job.name)
    }

    func run() async throws {
        var settings = try standard.settings(jobName: Job.name)
        try Job.configure(&settings, options: own)
        try settings.validate()
        try await JobRunner(settings: settings).run { builder in try Job.build(builder, options: own) }
    }
}
