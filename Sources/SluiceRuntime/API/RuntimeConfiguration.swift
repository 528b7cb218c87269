import Logging
import Metrics

/// Settings of a job and its runtime.
public struct RuntimeConfiguration: Sendable {
    public var jobName: String
    /// Parallelism of operators that do not set one.
    public var defaultParallelism: Int
    /// Number of key groups; fixed for the life of the job's state (rescaling keeps it).
    public var maxParallelism: Int
    public var checkpointing: CheckpointConfig
    /// Overrides `checkpointing.directory` (a storage of this package, e.g. in tests).
    package var checkpointStorage: (any CheckpointStorage)?
    public var restartStrategy: RestartStrategy
    /// A savepoint or checkpoint (its folder or `_metadata` file) to start from, overriding the
    /// latest checkpoint of the checkpoint directory. Parallelism may differ from the snapshot's.
    public var restoreFrom: String?
    public var logger: Logger
    /// nil: the global `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?
    public var clock: any RuntimeClock
    /// nil: read from `SLUICE_CRASH_AT` (crash = SIGKILL); `.disabled` turns it off.
    public var faultInjector: FaultInjector?
    /// Records per channel hand-off.
    public var batchSize: Int
    /// Batches a channel holds before its producer blocks (backpressure).
    public var channelCapacity: Int
    /// A partly filled batch is sent after at most this long.
    public var bufferTimeout: Duration
    /// How long a source task waits after its reader reported `.nothingAvailable`.
    public var sourceIdleWait: Duration
    /// Chain forward edges of equal parallelism into one thread.
    public var chaining: Bool
    /// Where keyed state lives: `.heap` (default) or `.disk(directory:)` (SQLite, incremental checkpoints).
    public var stateBackend: StateBackendChoice
    /// When a restored checkpoint's transactions were aborted and no earlier checkpoint makes the
    /// output exact: fail (default) or go on with the records missing (see `RestoredTransactionsLost`).
    public var lostTransactions: LostTransactionsPolicy = .fail
    /// Accept an exactly-once (two-phase-commit) sink with checkpoints kept in memory. Off: such a
    /// job is refused at start, because a restarted process would lose them and write its output
    /// again. For tests and throwaway jobs only.
    public var allowExactlyOnceWithInMemoryCheckpoints = false
    /// The prefix of the job's exactly-once sinks' transactional ids, recorded in every checkpoint
    /// (nil: none, or not told). A snapshot recorded under another prefix is not restored unless
    /// `allowTransactionalIdPrefixChange`.
    public var transactionalIdPrefix: String?
    public var allowTransactionalIdPrefixChange = false
    /// Which worker process this is when the job runs as several (each with its own checkpoints),
    /// recorded in every checkpoint: a snapshot of another layout is not restored, because its
    /// source offsets cover another share of the partitions.
    public var workerLayout: WorkerLayout = .single
    /// Restore from the newest snapshots of the workers that ran before (another number of them)
    /// while this worker has no checkpoint of `workerLayout` yet (see `WorkerRescale`).
    public var workerRescale: WorkerRescale?
    /// The key groups this process holds when a job's keyed exchanges cross worker processes
    /// (each worker reads its range of a repartition topic): keyed subtasks split this range
    /// instead of all `maxParallelism` key groups. nil: all of them.
    public var keyGroupScope: KeyGroupRange?

    public init(
        jobName: String = "sluice-job",
        defaultParallelism: Int = 1,
        maxParallelism: Int = KeyGroups.defaultMaxParallelism,
        checkpointing: CheckpointConfig = CheckpointConfig(),
        restartStrategy: RestartStrategy = .none,
        restoreFrom: String? = nil,
        logger: Logger = Logger(label: "sluice.runtime"),
        metricsFactory: (any MetricsFactory)? = nil,
        clock: any RuntimeClock = SystemClock(),
        faultInjector: FaultInjector? = nil,
        batchSize: Int = 512,
        channelCapacity: Int = 8,
        bufferTimeout: Duration = .milliseconds(50),
        sourceIdleWait: Duration = .milliseconds(5),
        chaining: Bool = true,
        stateBackend: StateBackendChoice = .heap
    ) {
        self.jobName = jobName
        self.defaultParallelism = defaultParallelism
        self.maxParallelism = maxParallelism
        self.checkpointing = checkpointing
        self.restartStrategy = restartStrategy
        self.restoreFrom = restoreFrom
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.clock = clock
        self.faultInjector = faultInjector
        self.batchSize = batchSize
        self.channelCapacity = channelCapacity
        self.bufferTimeout = bufferTimeout
        self.sourceIdleWait = sourceIdleWait
        self.chaining = chaining
        self.stateBackend = stateBackend
    }
}

extension RuntimeConfiguration {
    /// Checks every setting once, when the job is built (`execute()`), so that a bad combination
    /// fails before anything runs, with what to change.
    func validate() throws {
        guard defaultParallelism >= 1, batchSize >= 1, channelCapacity >= 1 else {
            throw RuntimeConfigurationError.invalid(
                "defaultParallelism, batchSize and channelCapacity must be at least 1 (got \(defaultParallelism), \(batchSize), \(channelCapacity)).")
        }
        guard bufferTimeout >= .zero, sourceIdleWait >= .zero else {
            throw RuntimeConfigurationError.invalid("bufferTimeout and sourceIdleWait must not be negative (got \(bufferTimeout), \(sourceIdleWait)).")
        }
        try restartStrategy.validate()
        try checkpointing.validate()
        try stateBackend.validate()
        if checkpointing.maxConcurrentCheckpoints > 1 && checkpointing.minPauseMillis > 0 {
            logger.notice(
                "maxConcurrentCheckpoints is \(checkpointing.maxConcurrentCheckpoints) but minPauseBetweenCheckpoints is set: one checkpoint at a time.")
        }
    }
}
