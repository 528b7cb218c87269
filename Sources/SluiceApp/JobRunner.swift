import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SluiceKafkaConnector
import SluiceOps
import SluiceRuntime
import UnixSignals

/// Runs a declared job for `JobCommand`: bootstraps logging and metrics (once per process),
/// serves status and metrics, installs the savepoint signals, and runs the job as a
/// ServiceLifecycle service that SIGTERM and SIGINT shut down gracefully.
struct JobRunner {
    let settings: JobSettings

    func run(declare: (JobBuilder) throws -> Void) async throws {
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: settings.jobName)
        logger.logLevel = level
        // Wrong credentials or certificates end the job here, with the cause, not in a restart loop.
        try KafkaSecurityCheck.verify(bootstrap: settings.bootstrapServers, properties: settings.clientSettings, logger: logger)
        // Metrics go to the Prometheus registry /metrics serves, lag and backpressure also to the
        // capture /status reads, and per-operator counts to the dashboard's; bootstrapped before the
        // job declares any metric.
        let registry = PrometheusCollectorRegistry()
        let capture = StatusMetricsCapture()
        let counts = DashboardMetricsCapture()
        MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [PrometheusMetricsFactory(registry: registry), capture, counts]))

        let builder = JobBuilder(settings: settings, logger: logger)
        try declare(builder)
        if let failure = builder.exchange?.failure { throw failure }
        let graph = try builder.environment.describeJobGraph()
        try settings.verifyWorkerExchanges(graph, exchangeReaders: builder.exchange?.readerNames ?? [])
        try settings.verifyKeyedRescale(graph)
        try WorkerCheckpointSurvey.verify(settings, logger: logger)
        if settings.worker.workers > 1 { logger.info("Running as \(settings.worker): the source partitions p with p % \(settings.worker.workers) == \(settings.worker.index).") }
        if let exchange = builder.exchange, !exchange.topics.isEmpty {
            logger.info("Keyed streams cross workers through \(exchange.topics.joined(separator: ", ")); this worker reads key groups \(KafkaKeyedExchange.scope(of: settings.worker, maxParallelism: settings.maxParallelism)).")
        }
        let control = builder.environment.control

        var statusServer: StatusServer?
        if let port = settings.statusPort {
            let jobName = settings.jobName
            if settings.createStatusToken, let file = settings.statusTokenFile { try StatusToken.createIfMissing(at: file) }
            let dashboard = DashboardSource(
                job: jobName, control: control, graph: try builder.environment.describeJobGraph(), status: capture, counts: counts,
                acceptsSavepoints: true)
            let server = try StatusServer.start(
                host: settings.statusHost, port: port, registry: registry,
                status: { JobStatusReport(job: jobName, status: control.status, metrics: capture).json() },
                actions: .control(control, defaultDirectory: settings.savepointDirectory),
                dashboard: { dashboard.report().json() },
                options: StatusServerOptions(token: try StatusToken.resolve(file: settings.statusTokenFile)), logger: logger)
            let shownHost = settings.statusHost == "0.0.0.0" ? "127.0.0.1" : settings.statusHost
            print("status: http://\(shownHost):\(server.port)/status")
            print("dashboard: http://\(shownHost):\(server.port)/")
            fflush(nil)  // operators and tests read the address from a pipe
            statusServer = server
        }
        defer { statusServer?.stop() }
        let savepoints = SavepointSignals(control: control, directory: settings.savepointDirectory, logger: logger)
        savepoints.install()
        let job = JobService(environment: builder.environment, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: job, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
