// The click-count job of Flink's operations playground, on Sluice, with exactly-once output.
import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import SluiceClickCount
import SluiceKafka
import SluiceKafkaConnector
import SluiceOps
import SluiceRuntime
import UnixSignals

@main
struct ClickCountJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "click-count-job",
        abstract: "Counts click events per page in 15 s tumbling windows, from Kafka to Kafka, exactly once.",
        discussion: """
            Restores from the latest completed checkpoint in --checkpoint-dir when there is one, or from
            --from-savepoint. SIGTERM or SIGINT stops it gracefully (open transactions are aborted).
            SIGUSR1 stops it with a savepoint in --savepoint-dir (sink transactions committed, windows not fired
            early) and prints "savepoint: PATH"; SIGUSR2 writes a savepoint and keeps running. With --status-port,
            POST /stop and POST /savepoints do the same over HTTP (`sluice stop`, `sluice savepoint`). For fault
            injection, SLUICE_CRASH_AT=<point>:<checkpoint> kills the process with SIGKILL at a named crash point.
            """)

    @Option(name: [.customLong("bootstrap"), .customLong("bootstrap.servers")], help: "Kafka bootstrap servers (host:port).")
    var bootstrap = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] ?? "localhost:9092"
    @Option(help: "Topic of click events.") var inputTopic = "input"
    @Option(help: "Topic of window statistics.") var outputTopic = "output"
    @Option(name: [.short, .long], help: "Parallelism of every operator.") var parallelism = 2
    @Option(help: "Directory of checkpoints (kept across restarts).") var checkpointDir: String?
    @Flag(help: "Checkpoint every --checkpoint-interval-ms (needed for exactly-once).") var checkpointing = false
    @Option(help: "Checkpoint interval in milliseconds.") var checkpointIntervalMs = 1000
    @Flag(help: "Event-time windows (otherwise processing time).") var eventTime = false
    @Option(help: "Milliseconds without records after which a partition no longer holds the watermark back.")
    var idlenessMs: Int64 = ClickCountJob.idlenessMillis
    @Flag(help: "Add an operator that sleeps 100 ms per event in even minutes.") var backpressure = false
    @Option(help: "The backpressure operator's sleep per event, in milliseconds.") var backpressurePauseMs = 100
    @Flag(help: "The backpressure operator sleeps in every minute, not only even ones.") var backpressureEveryMinute = false
    @Option(help: "none, atLeastOnce or exactlyOnce.") var deliveryGuarantee = "exactlyOnce"
    @Option(help: "Prefix of the sink's transactional ids (unique per job, stable across restarts).")
    var transactionalIdPrefix = "click-count"
    @Flag(inversion: .prefixedNo, help: "Hold records back while a commit is pending (for brokers whose last stable offset moves only while no transaction is open).")
    var holdBackWhileCommitPending = true
    @Option(help: "Transaction timeout in seconds (at most the broker's transaction.max.timeout.ms).")
    var transactionTimeoutSeconds = 900
    @Option(help: "What to do with malformed events: fail or skip.") var malformed = "fail"
    @Option(help: "Skip malformed events and write them to this topic (at least once), with headers naming their origin.")
    var deadLetterTopic: String?
    @Option(help: "Restarts inside the process before giving up.") var restartAttempts = 3
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel = "info"
    @Option(help: "Serve GET /status (JSON), GET /metrics (Prometheus), POST /savepoints and POST /stop on this port; 0 picks a free one.")
    var statusPort: Int?
    @Option(help: "Address the status server listens on (0.0.0.0 to reach it from other containers; needs a status token).")
    var statusHost = "127.0.0.1"
    @Option(help: "File holding the token POST /savepoints and POST /stop require (default: $SLUICE_STATUS_TOKEN_FILE, else $SLUICE_STATUS_TOKEN); required beyond loopback.")
    var statusTokenFile: String?
    @Flag(help: "Write a random token to --status-token-file first if the file does not exist (readable by this user only).")
    var createStatusToken = false
    @Option(help: "Where SIGUSR1 / SIGUSR2 write savepoints (default: <checkpoint-dir>/savepoints).") var savepointDir: String?
    @Option(help: "Start from this savepoint or checkpoint (folder or its _metadata), e.g. with another -p.")
    var fromSavepoint: String?
    @Option(help: "Keyed state backend: heap, or disk (SQLite under --state-dir, incremental checkpoints).")
    var stateBackend = "heap"
    @Option(help: "Working directory of the disk state backend (not durable; checkpoints are). Default: a temporary folder.")
    var stateDir: String?
    @Option(help: "Checkpoints in flight at once (the Kafka sink's pool of 4 producers covers up to 3).")
    var maxConcurrentCheckpoints = 1
    @Option(help: "A file of librdkafka properties (key=value lines) for every Kafka client and Sluice's own connections, e.g. security.protocol, ssl.ca.location, sasl.username.")
    var clientConfig: String?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable; overrides --client-config).")
    var properties: [String] = []

    func validate() throws {
        guard let guarantee = DeliveryGuarantee(name: deliveryGuarantee, transactionalIdPrefix: transactionalIdPrefix) else {
            throw ValidationError("--delivery-guarantee must be none, atLeastOnce or exactlyOnce")
        }
        if guarantee.transactionalIdPrefix != nil && !checkpointing {
            throw ValidationError("exactly-once output is committed at checkpoints: add --checkpointing, or use --delivery-guarantee atLeastOnce")
        }
        guard ["fail", "skip"].contains(malformed) else { throw ValidationError("--malformed must be fail or skip") }
        guard parallelism >= 1 else { throw ValidationError("--parallelism must be at least 1") }
        guard backpressurePauseMs >= 0 else { throw ValidationError("--backpressure-pause-ms must not be negative") }
        guard ["heap", "disk"].contains(stateBackend) else { throw ValidationError("--state-backend must be heap or disk") }
        guard maxConcurrentCheckpoints >= 1 else { throw ValidationError("--max-concurrent-checkpoints must be at least 1") }
    }

    func run() async throws {
        var logger = Logger(label: "click-count-job")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var options = ClickCountJobOptions(bootstrapServers: bootstrap)
        options.inputTopic = inputTopic
        options.outputTopic = outputTopic
        options.parallelism = parallelism
        options.checkpointDirectory = checkpointDir
        options.checkpointInterval = checkpointing ? .milliseconds(checkpointIntervalMs) : nil
        options.eventTime = eventTime
        options.idlenessMillis = idlenessMs
        options.backpressure = backpressure
        options.backpressurePauseMillis = backpressurePauseMs
        options.backpressureEveryMinute = backpressureEveryMinute
        options.deliveryGuarantee = DeliveryGuarantee(name: deliveryGuarantee, transactionalIdPrefix: transactionalIdPrefix)
            ?? .exactlyOnce(prefix: transactionalIdPrefix)
        options.holdBackWhileCommitPending = holdBackWhileCommitPending
        options.transactionTimeout = .seconds(transactionTimeoutSeconds)
        options.malformedRecords = deadLetterTopic.map { .deadLetter(topic: $0) } ?? (malformed == "skip" ? .skip : .fail)
        options.restartStrategy = restartAttempts > 0 ? .fixedDelay(attempts: restartAttempts, delay: .milliseconds(500)) : .none
        options.restoreFrom = fromSavepoint
        if stateBackend == "disk" {
            // Shared by every run: the backend removes the working folders of processes that are gone.
            let directory = stateDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("click-count-state").path
            options.stateBackend = .disk(directory: directory)
        }
        options.maxConcurrentCheckpoints = maxConcurrentCheckpoints
        options.clientProperties = try KafkaClientProperties.load(file: clientConfig, overrides: properties)
        // Wrong credentials or certificates end the job here, with the cause, not in a restart loop.
        try KafkaSecurityCheck.verify(bootstrap: bootstrap, properties: options.clientProperties, logger: logger)

        // Metrics go to a Prometheus registry that /metrics serves, and lag and backpressure also to
        // the capture /status reads; bootstrapped before the job declares any metric.
        let registry = PrometheusCollectorRegistry()
        let capture = StatusMetricsCapture()
        let counts = DashboardMetricsCapture()
        if statusPort != nil {
            MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [PrometheusMetricsFactory(registry: registry), capture, counts]))
        }
        let env = try ClickCountJob.environment(options, logger: logger)
        let savepointDirectory = savepointDir ?? (checkpointDir.map { $0 + "/savepoints" })
        var statusServer: StatusServer?
        if let statusPort {
            if createStatusToken, let statusTokenFile { try StatusToken.createIfMissing(at: statusTokenFile) }
            let control = env.control
            let dashboard = DashboardSource(
                job: "click-count", control: control, graph: try env.describeJobGraph(), status: capture, counts: counts,
                acceptsSavepoints: true)
            let server = try StatusServer.start(
                host: statusHost, port: statusPort, registry: registry,
                status: { JobStatusReport(job: "click-count", status: control.status, metrics: capture).json() },
                actions: .control(control, defaultDirectory: savepointDirectory),
                dashboard: { dashboard.report().json() },
                options: StatusServerOptions(token: try StatusToken.resolve(file: statusTokenFile)), logger: logger)
            let shownHost = statusHost == "0.0.0.0" ? "127.0.0.1" : statusHost
            print("status: http://\(shownHost):\(server.port)/status")
            print("dashboard: http://\(shownHost):\(server.port)/")
            fflush(nil)  // operators and tests read the address from a pipe
            statusServer = server
        }
        defer { statusServer?.stop() }
        let savepoints = SavepointSignals(control: env.control, directory: savepointDirectory, logger: logger)
        savepoints.install()
        let job = JobService(environment: env, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: job, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Runs a Sluice job (which blocks a thread of its own) as a ServiceLifecycle service: graceful
/// shutdown cancels the job through its Sendable `JobControl`.
final class JobService: Service, Sendable {
    /// Hands the environment to the job thread. @unchecked: the environment is declared before
    /// and only executed on that thread afterwards; cancelling goes through `control`, which is Sendable.
    struct Handoff: @unchecked Sendable { let environment: StreamExecutionEnvironment }

    let handoff: Handoff
    let control: JobControl
    let logger: Logger

    init(environment: StreamExecutionEnvironment, logger: Logger) {
        self.handoff = Handoff(environment: environment)
        self.control = environment.control
        self.logger = logger
    }

    func run() async throws {
        let handoff = self.handoff
        let control = self.control
        let logger = self.logger
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        let result = try handoff.environment.execute()
                        logger.info("Job ended: \(result)")
                        continuation.resume()
                    } catch {
                        logger.error("Job failed: \(error)")
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "sluice-job"
                thread.start()
            }
        } onGracefulShutdown: {
            logger.info("Shutting down: cancelling the job.")
            control.cancel()
        }
    }
}

/// SIGUSR1: stop with a savepoint; SIGUSR2: write a savepoint and keep running. The path goes to
/// standard output as `savepoint: PATH` for scripts and operators.
final class SavepointSignals: Sendable {
    let control: JobControl
    let directory: String?
    let logger: Logger
    private let queue = DispatchQueue(label: "sluice.savepoint-signals")
    /// Signal sources must stay alive while installed. @unchecked: written once in `install`,
    /// before any handler can run, and only read afterwards.
    private struct Sources: @unchecked Sendable { var list: [any DispatchSourceSignal] = [] }
    private let sources = Mutex(Sources())

    init(control: JobControl, directory: String?, logger: Logger) {
        self.control = control
        self.directory = directory
        self.logger = logger
    }

    func install() {
        var installed: [any DispatchSourceSignal] = []
        for (number, stops) in [(SIGUSR1, true), (SIGUSR2, false)] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in take(stoppingJob: stops) }
            source.resume()
            installed.append(source)
        }
        sources.withLock { $0.list = installed }
    }

    private func take(stoppingJob: Bool) {
        guard let directory else {
            logger.error("No savepoint directory: start the job with --savepoint-dir or --checkpoint-dir.")
            return
        }
        do {
            let path = stoppingJob
                ? try control.stopWithSavepoint(directory: directory)
                : try control.triggerSavepoint(directory: directory)
            logger.info("\(stoppingJob ? "Stopped with savepoint" : "Savepoint written"): \(path)")
            print("savepoint: \(path)")
            fflush(nil)  // operators and tests read the path from a pipe
        } catch {
            logger.error("The savepoint failed: \(error)")
        }
    }
}
