import Logging
import SluiceKafkaConnector
import SluiceRuntime

/// Everything a job's standard command line decides, in the types the job and the runtime use.
/// `SluiceJob.configure` may change any of it before `build`.
public struct JobSettings: Sendable {
    public var jobName: String
    public var bootstrapServers: String
    /// librdkafka settings for every client the job builds (from --client-config and -X, in that
    /// order, later ones winning).
    public var clientSettings: [String: String] = [:]
    public var parallelism = 2
    /// Key groups of keyed state (Flink's max parallelism); with several workers also the
    /// partition count of each repartition topic.
    public var maxParallelism = KeyGroups.defaultMaxParallelism
    public var checkpointDirectory: String?
    /// nil: no periodic checkpoints (only with a delivery guarantee other than exactly-once).
    public var checkpointInterval: Duration? = .seconds(1)
    public var checkpointTimeout: Duration = .seconds(60)
    public var maxConcurrentCheckpoints = 1
    /// Unaligned checkpoints (see `CheckpointConfig.unaligned`).
    public var unalignedCheckpoints = false
    /// With unaligned checkpoints: how long a checkpoint stays aligned first.
    public var alignedCheckpointTimeout: Duration = .zero
    public var stateBackend: StateBackendChoice = .heap
    public var deliveryGuarantee: JobDeliveryGuarantee = .exactlyOnce
    /// Hold a sink's next transaction back while the previous one commits, for brokers whose last
    /// stable offset moves only while no transaction is open (see `StalledLastStableOffsetHoldBack`).
    public var holdBackWhileCommitPending = false
    /// Transactional ids of the job's exactly-once sinks start with it: unique per deployment, stable
    /// across restarts. Required for exactly-once (no default: two deployments of one job with a
    /// default prefix would fence each other's transactions).
    public var transactionalIdPrefix: String?
    /// Restore a checkpoint or savepoint written under another transactional-id prefix (its open
    /// transactions are then not aborted by this job). Off: such a restore is refused.
    public var allowTransactionalIdPrefixChange = false
    public var transactionTimeout: Duration = .seconds(900)
    /// The consumer group the sources commit offsets to at checkpoints (monitoring only).
    public var groupId: String
    public var restartStrategy: RestartStrategy = .fixedDelay(attempts: 3, delay: .milliseconds(500))
    public var restoreFrom: String?
    /// Where SIGUSR1, SIGUSR2 and POST /savepoints write savepoints.
    public var savepointDirectory: String?
    public var statusHost = "127.0.0.1"
    /// nil: no status server; 0: a free port (the address is printed as `status: URL`).
    public var statusPort: Int?
    /// The file holding the token POST /savepoints and POST /stop require (nil: $SLUICE_STATUS_TOKEN_FILE,
    /// else $SLUICE_STATUS_TOKEN); required beyond loopback.
    public var statusTokenFile: String?
    /// Write a random token to `statusTokenFile` first when the file does not exist.
    public var createStatusToken = false
    public var logLevel: Logger.Level = .info
    /// When a restored checkpoint's transactions were aborted and no earlier checkpoint makes the output exact.
    public var onLostTransactions: LostTransactionsPolicy = .fail
    /// Checkpoints that may fail in a row before the job fails (0: the first fails it).
    public var tolerableCheckpointFailures = 0
    /// What sources do when a position is no longer in the log (retention, DeleteRecords).
    public var onOffsetOutOfRange: OffsetOutOfRangePolicy = .fail
    /// The largest parallelism the job's exactly-once sinks may have run with: a start without a
    /// checkpoint aborts the transactions of subtasks up to it (nil: not declared).
    public var sinkMaxParallelism: Int?
    /// This process's share when the job runs as several worker processes (--workers, --worker-index):
    /// its Kafka sources read only the partitions p with p % workers == index.
    public var worker: KafkaWorkerShare = .all
    /// The job's input is partitioned by its keys, so keyed exchanges stay inside each worker: allows
    /// a job with keyBy or broadcast to run as several workers.
    public var keysFollowPartitions = false
    /// The number of workers that ran before this start (--rescale-from-workers): until this worker
    /// has a checkpoint of its own layout, it restores from their newest snapshots.
    public var rescaleFromWorkers: Int?
    /// The earlier workers' checkpoint folders (set with `rescaleFromWorkers` by `deriveWorkerNames`).
    public var rescaleFromFolders: [String] = []
    /// Transactional-id prefixes of earlier workers that no longer exist and whose leftovers this
    /// worker aborts (old worker j by new worker j % workers).
    public var retiredTransactionalIdPrefixes: [String] = []

    public init(jobName: String, bootstrapServers: String) {
        self.jobName = jobName
        self.bootstrapServers = bootstrapServers
        self.groupId = jobName
    }

    /// Refuses combinations that cannot work, saying what to change.
    public func validate() throws(JobSettingsError) {
        if parallelism < 1 { throw .invalid("--parallelism must be at least 1 (got \(parallelism))") }
        if maxParallelism < 1 || maxParallelism > 32768 { throw .invalid("--max-parallelism must be between 1 and 32768 (got \(maxParallelism))") }
        if parallelism > maxParallelism { throw .invalid("--parallelism \(parallelism) is above --max-parallelism \(maxParallelism)") }
        if worker.workers > maxParallelism {
            throw .invalid("--workers \(worker.workers) is above --max-parallelism \(maxParallelism): each worker holds at least one key group")
        }
        if maxConcurrentCheckpoints < 1 { throw .invalid("--max-concurrent-checkpoints must be at least 1") }
        if tolerableCheckpointFailures < 0 { throw .invalid("--tolerable-checkpoint-failures must be 0 or more") }
        if unalignedCheckpoints && deliveryGuarantee != .exactlyOnce {
            throw .invalid("--unaligned-checkpoints needs --delivery-guarantee exactlyOnce: without alignment there is nothing for a barrier to overtake")
        }
        if unalignedCheckpoints && maxConcurrentCheckpoints != 1 {
            throw .invalid("--unaligned-checkpoints runs one checkpoint at a time: use --max-concurrent-checkpoints 1")
        }
        if !unalignedCheckpoints && alignedCheckpointTimeout != .zero {
            throw .invalid("--aligned-checkpoint-timeout only applies with --unaligned-checkpoints: add that flag, or leave the timeout out")
        }
        if let sinkMaxParallelism, sinkMaxParallelism < 1 { throw .invalid("--sink-max-parallelism must be at least 1") }
        if let rescaleFromWorkers {
            if rescaleFromWorkers < 1 { throw .invalid("--rescale-from-workers must be at least 1") }
            if checkpointDirectory == nil { throw .invalid("--rescale-from-workers needs --checkpoint-dir: the earlier workers' checkpoints are found there") }
            if restoreFrom != nil { throw .invalid("--rescale-from-workers restores the earlier workers' snapshots: leave out --from-savepoint") }
        }
        if deliveryGuarantee == .exactlyOnce && checkpointInterval == nil {
            throw .invalid("exactly-once output is committed at checkpoints: give --checkpoint-interval, or use --delivery-guarantee atLeastOnce")
        }
        if deliveryGuarantee == .exactlyOnce && (transactionalIdPrefix ?? "").isEmpty {
            throw .invalid(
                "exactly-once needs --transactional-id-prefix: a name of this deployment, unique among the jobs writing to the cluster "
                + "and kept across its restarts (e.g. orders-prod); jobs sharing a prefix fence each other's transactions. "
                + "Or use --delivery-guarantee atLeastOnce")
        }
        if deliveryGuarantee == .exactlyOnce && checkpointDirectory == nil {
            throw .invalid(
                "exactly-once needs --checkpoint-dir: checkpoints kept in memory are lost with the process, so a restarted job "
                + "would write its output again. Or use --delivery-guarantee atLeastOnce")
        }
    }

    /// Keyed streams cross a repartition topic even in one process (`--exchange-keyed-streams`): what
    /// the bench measures the hop's cost with.
    public var exchangeKeyedStreams = false
    /// Repartition topics are `<prefix>-<operator>-repartition`; nil: the job's name.
    public var repartitionTopicPrefix: String?

    /// Keyed streams cross between workers through repartition topics (`KafkaKeyedExchange`).
    var usesKeyedExchange: Bool { (worker.workers > 1 || exchangeKeyedStreams) && !keysFollowPartitions }

    /// The runtime's configuration for these settings.
    func runtimeConfiguration(logger: Logger) -> RuntimeConfiguration {
        var configuration = RuntimeConfiguration(
            jobName: jobName,
            defaultParallelism: parallelism,
            maxParallelism: maxParallelism,
            checkpointing: CheckpointConfig(
                interval: checkpointInterval, timeout: checkpointTimeout,
                directory: checkpointDirectory, maxConcurrentCheckpoints: maxConcurrentCheckpoints,
                tolerableFailures: tolerableCheckpointFailures),
            restartStrategy: restartStrategy,
            restoreFrom: restoreFrom,
            logger: logger)
        configuration.checkpointing.unaligned = unalignedCheckpoints
        configuration.checkpointing.alignedCheckpointTimeout = alignedCheckpointTimeout
        configuration.stateBackend = stateBackend
        configuration.lostTransactions = onLostTransactions
        // Recorded in every checkpoint: a restore under another prefix is refused unless allowed.
        configuration.transactionalIdPrefix = deliveryGuarantee == .exactlyOnce ? transactionalIdPrefix : nil
        configuration.allowTransactionalIdPrefixChange = allowTransactionalIdPrefixChange
        // Recorded in every checkpoint: a restore under another number of workers is refused.
        configuration.workerLayout = WorkerLayout(workers: worker.workers, index: worker.index) ?? .single
        // Each worker holds its range of key groups: what it reads of every repartition topic.
        if usesKeyedExchange { configuration.keyGroupScope = KafkaKeyedExchange.scope(of: worker, maxParallelism: maxParallelism) }
        if rescaleFromWorkers != nil, !rescaleFromFolders.isEmpty { configuration.workerRescale = WorkerRescale(folders: rescaleFromFolders) }
        return configuration
    }
}

/// The delivery guarantee of a job's Kafka sinks; exactly-once sinks take their transactional-id
/// prefix from the job's settings.
public enum JobDeliveryGuarantee: String, Sendable, Hashable, CaseIterable {
    case none, atLeastOnce, exactlyOnce
}

/// A standard option or setting that cannot work.
public enum JobSettingsError: Error, CustomStringConvertible {
    case invalid(String)
    case unreadableClientConfig(path: String, reason: String)
    case malformedClientSetting(String, origin: String)

    public var description: String {
        switch self {
        case .invalid(let why):
            return "Invalid job settings: \(why)."
        case .unreadableClientConfig(let path, let reason):
            return "Cannot read the client configuration file \(path): \(reason)."
        case .malformedClientSetting(let text, let origin):
            return "\(origin): '\(text)' is not a librdkafka setting of the form key=value (e.g. security.protocol=SASL_SSL)."
        }
    }
}

extension Duration {
    /// Whole milliseconds, for the runtime's millisecond settings.
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Duration {
    /// Whole milliseconds, as event-time code counts.
    public var inMilliseconds: Int64 { milliseconds }
}
