import ArgumentParser
import Foundation
import Logging
import SluiceKafkaConnector
import SluiceRuntime

/// The command-line options every SluiceApp job has; `settings(jobName:)` turns them into `JobSettings`.
public struct StandardJobOptions: ParsableArguments {
    @Option(name: [.customLong("bootstrap"), .customLong("bootstrap.servers")],
            help: "Kafka bootstrap servers (host:port,...); default: $KAFKA_BOOTSTRAP or localhost:9092.")
    var bootstrap: String?
    @Option(help: ArgumentHelp("A librdkafka configuration file of key=value lines, for every Kafka client of the job.", valueName: "file"))
    var clientConfig: String?
    @Option(name: .customShort("X"), help: ArgumentHelp("A librdkafka setting for every Kafka client of the job (repeatable; wins over --client-config).", valueName: "key=value"))
    var clientSetting: [String] = []
    @Option(name: [.short, .long], help: "Parallelism of every operator.")
    var parallelism = 2
    @Option(help: "Folder of the job's checkpoints, kept across restarts (the job restores from it).")
    var checkpointDir: String?
    @Option(help: "Time between checkpoints (e.g. 1s, 500ms), or off.")
    var checkpointInterval = DurationArgument(.seconds(1))
    @Option(help: "A checkpoint not complete after this long is aborted.")
    var checkpointTimeout = DurationArgument(.seconds(60))
    @Option(help: "Checkpoints in flight at once.")
    var maxConcurrentCheckpoints = 1
    @Flag(help: "Unaligned checkpoints: under backpressure a barrier overtakes the queued records, which are stored with the checkpoint and replayed on restore (exactly-once; savepoints stay aligned).")
    var unalignedCheckpoints = false
    @Option(help: "With --unaligned-checkpoints: a checkpoint starts aligned and turns unaligned once it is this old (e.g. 200ms); 0: unaligned at once.")
    var alignedCheckpointTimeout = DurationArgument(.zero)
    @Option(help: "Keyed state backend: heap, or disk (SQLite under --state-dir, incremental checkpoints).")
    var stateBackend = "heap"
    @Option(help: "Working folder of the disk state backend (not durable; checkpoints are). Default: a temporary folder.")
    var stateDir: String?
    @Option(help: "exactlyOnce, atLeastOnce or none.")
    var deliveryGuarantee = "exactlyOnce"
    @Flag(help: "Hold each sink's next transaction back while the previous one commits (for brokers whose last stable offset moves only while no transaction is open, such as the embedded test broker).")
    var holdBackWhileCommitPending = false
    @Option(help: "Prefix of the sinks' transactional ids: unique per deployment, stable across restarts (required for exactly-once; default: $SLUICE_TRANSACTIONAL_ID_PREFIX).")
    var transactionalIdPrefix: String?
    @Flag(help: "Restore a checkpoint or savepoint written under another --transactional-id-prefix (refused otherwise: the transactions it left open are not aborted).")
    var allowTransactionalIdPrefixChange = false
    @Option(help: "Kafka transaction timeout (at most the broker's transaction.max.timeout.ms).")
    var transactionTimeout = DurationArgument(.seconds(900))
    @Option(help: "Consumer group the sources commit offsets to at checkpoints. Default: the job's name.")
    var groupId: String?
    @Option(help: "After a failure inside the process: none, fixed-delay or exponential-delay.")
    var restartStrategy = "fixed-delay"
    @Option(help: "fixed-delay: restarts inside the process before the job fails.")
    var restartAttempts = 3
    @Option(help: "Wait before a restart (exponential-delay: the first wait, doubled up to 1 min).")
    var restartDelay = DurationArgument(.milliseconds(500))
    @Option(help: "Start from this savepoint or checkpoint (folder or its _metadata), e.g. with another -p.")
    var fromSavepoint: String?
    @Option(help: "Where savepoints go. Default: <checkpoint-dir>/savepoints.")
    var savepointDir: String?
    @Option(help: "Serve GET /status, GET /metrics, POST /savepoints and POST /stop on this port; 0 picks a free one.")
    var statusPort: Int?
    @Option(help: "Address the status server listens on (0.0.0.0 to reach it from other containers; needs a status token).")
    var statusHost = "127.0.0.1"
    @Option(help: "File holding the token POST /savepoints and POST /stop require (default: $SLUICE_STATUS_TOKEN_FILE, else $SLUICE_STATUS_TOKEN); required beyond loopback.")
    var statusTokenFile: String?
    @Flag(help: "Write a random token to --status-token-file first if the file does not exist (readable by this user only).")
    var createStatusToken = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"
    @Option(help: "When a restored checkpoint's transactions were aborted by the broker and no earlier checkpoint gives exact output: fail (list the missing offsets and stop) or continue (accept the loss).")
    var onLostTransactions = "fail"
    @Option(help: "Checkpoints that may fail in a row (e.g. the checkpoint directory is full or read-only) before the job fails; 0: the first failure fails it.")
    var tolerableCheckpointFailures = 0
    @Option(help: ArgumentHelp("When a source's position is no longer in the log (retention or DeleteRecords removed it): fail, or earliest (go on from the earliest offset with a warning; the records in between are lost for this job).", valueName: "fail|earliest"))
    var onOffsetOutOfRange = "fail"
    @Option(help: "The largest parallelism the job's exactly-once sinks ever ran with: a start without a checkpoint then aborts transactions the subtasks up to it left open.")
    var sinkMaxParallelism: Int?

    @Option(help: "Worker processes the job runs as (each reads the source partitions p with p % workers == its index, with its own checkpoints and transactional ids).")
    var workers = 1
    @Option(help: "This process's index among --workers (0-based). Default: the trailing -<n> of $HOSTNAME (a StatefulSet pod's ordinal) when --workers > 1.")
    var workerIndex: Int?
    @Flag(help: "The input topics are partitioned by the job's keys: allow keyBy and broadcast with --workers > 1 (each worker then keeps the state of its partitions' keys).")
    var keysFollowPartitions = false
    @Option(help: "Repartition topics are named <prefix>-<operator>-repartition (default prefix: the job's name). Give two deployments of one job on one cluster their own.")
    var repartitionTopicPrefix: String?
    @Flag(help: "Send every keyBy through a repartition topic even as one worker (to measure what the hop between workers costs).")
    var exchangeKeyedStreams = false
    @Option(help: "Key groups of the job's keyed state (Flink's max parallelism): the most subtasks a keyed operator may have, and with --workers > 1 the partition count of each repartition topic. Fixed for the life of the job's state.")
    var maxParallelism = KeyGroups.defaultMaxParallelism
    @Option(help: "The number of workers that ran before: restore from their newest checkpoints (or stop savepoints) under <checkpoint-dir> while this worker has none of its own under --workers (keyed state moves by key groups; stop the old workers first, start the new ones together).")
    var rescaleFromWorkers: Int?

    public init() {}

    /// The settings these options describe; throws a `ValidationError` naming the option at fault.
    public func settings(jobName: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> JobSettings {
        let servers = bootstrap ?? environment["KAFKA_BOOTSTRAP"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost:9092"
        var settings = JobSettings(jobName: jobName, bootstrapServers: servers)
        settings.clientSettings = try ClientSettings.merge(file: clientConfig, overrides: clientSetting)
        settings.parallelism = parallelism
        settings.checkpointDirectory = checkpointDir
        settings.checkpointInterval = checkpointInterval.duration
        settings.checkpointTimeout = try checkpointTimeout.required("--checkpoint-timeout")
        settings.maxConcurrentCheckpoints = maxConcurrentCheckpoints
        settings.unalignedCheckpoints = unalignedCheckpoints
        settings.alignedCheckpointTimeout = try alignedCheckpointTimeout.required("--aligned-checkpoint-timeout")
        switch stateBackend {
        case "heap": settings.stateBackend = .heap
        case "disk":
            // Shared by every run: the backend removes the working folders of processes that are gone.
            let directory = stateDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("\(jobName)-state").path
            settings.stateBackend = .disk(directory: directory)
        default: throw ValidationError("--state-backend must be heap or disk (got '\(stateBackend)').")
        }
        guard let guarantee = JobDeliveryGuarantee(rawValue: deliveryGuarantee) else {
            throw ValidationError("--delivery-guarantee must be exactlyOnce, atLeastOnce or none (got '\(deliveryGuarantee)').")
        }
        settings.deliveryGuarantee = guarantee
        settings.holdBackWhileCommitPending = holdBackWhileCommitPending
        settings.transactionalIdPrefix = transactionalIdPrefix
            ?? environment["SLUICE_TRANSACTIONAL_ID_PREFIX"].flatMap { $0.isEmpty ? nil : $0 }
        settings.allowTransactionalIdPrefixChange = allowTransactionalIdPrefixChange
        settings.transactionTimeout = try transactionTimeout.required("--transaction-timeout")
        if let groupId { settings.groupId = groupId }
        settings.restartStrategy = try restart()
        settings.restoreFrom = fromSavepoint
        settings.savepointDirectory = savepointDir ?? checkpointDir.map { $0 + "/savepoints" }
        settings.statusHost = statusHost
        settings.statusPort = statusPort
        settings.statusTokenFile = statusTokenFile
        settings.createStatusToken = createStatusToken
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        settings.logLevel = level
        guard let lostTransactions = LostTransactionsPolicy(rawValue: onLostTransactions) else {
            throw ValidationError("--on-lost-transactions must be fail or continue (got '\(onLostTransactions)').")
        }
        settings.onLostTransactions = lostTransactions
        settings.tolerableCheckpointFailures = tolerableCheckpointFailures
        guard let offsetPolicy = OffsetOutOfRangePolicy(rawValue: onOffsetOutOfRange) else {
            throw ValidationError("--on-offset-out-of-range must be fail or earliest (got '\(onOffsetOutOfRange)').")
        }
        settings.onOffsetOutOfRange = offsetPolicy
        settings.sinkMaxParallelism = sinkMaxParallelism
        settings.maxParallelism = maxParallelism
        settings.exchangeKeyedStreams = exchangeKeyedStreams
        settings.repartitionTopicPrefix = repartitionTopicPrefix
        do {
            settings.worker = try WorkerOrdinal.share(workers: workers, index: workerIndex, environment: environment)
            settings.keysFollowPartitions = keysFollowPartitions
            settings.rescaleFromWorkers = rescaleFromWorkers
            settings.deriveWorkerNames(savepointDirectoryGiven: savepointDir != nil)
            try settings.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return settings
    }

    private func restart() throws -> RestartStrategy {
        let delay = try restartDelay.required("--restart-delay")
        switch restartStrategy {
        case "none":
            return .none
        case "fixed-delay":
            guard restartAttempts >= 0 else { throw ValidationError("--restart-attempts must not be negative.") }
            return restartAttempts == 0 ? .none : .fixedDelay(attempts: restartAttempts, delay: delay)
        case "exponential-delay":
            guard delay > .zero else { throw ValidationError("exponential-delay needs a positive --restart-delay.") }
            return .exponentialDelay(initial: delay, max: max(delay, .seconds(60)), multiplier: 2, resetAfter: .seconds(600))
        default:
            throw ValidationError("--restart-strategy must be none, fixed-delay or exponential-delay (got '\(restartStrategy)').")
        }
    }
}

/// A duration on the command line: `250ms`, `2s`, `5m`, `1h` (a bare number is milliseconds), or `off`.
public struct DurationArgument: ExpressibleByArgument, Sendable {
    /// nil: `off`.
    public let duration: Duration?

    public init(_ duration: Duration?) { self.duration = duration }

    public init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "off" || text == "none" {
            duration = nil
            return
        }
        let units: [(suffix: String, unit: Duration)] = [("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600)), ("", .milliseconds(1))]
        for (suffix, unit) in units where text.hasSuffix(suffix) {
            guard let amount = Double(text.dropLast(suffix.count)), amount >= 0, amount.isFinite else { return nil }
            duration = unit * amount
            return
        }
        return nil
    }

    public var defaultValueDescription: String {
        guard let duration else { return "off" }
        let millis = duration.milliseconds
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }

    func required(_ option: String) throws -> Duration {
        guard let duration else { throw ValidationError("\(option) needs a duration such as 30s, not off.") }
        return duration
    }
}
