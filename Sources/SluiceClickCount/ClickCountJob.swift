import Foundation
import Logging
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime

/// The settings of the click-count job; the defaults are the playground's.
public struct ClickCountJobOptions: Sendable {
    public var bootstrapServers: String
    public var inputTopic = "input"
    public var outputTopic = "output"
    public var parallelism = 2
    public var checkpointDirectory: String?
    /// nil: checkpointing off (the playground's default without `--checkpointing`).
    public var checkpointInterval: Duration? = .seconds(1)
    /// Event-time windows with watermarks (200 ms out of order, 5 s idleness); otherwise processing time.
    public var eventTime = true
    /// Adds keyBy(page).map that sleeps 100 ms per event in even wall-clock minutes.
    public var backpressure = false
    /// The backpressure operator's sleep per event (the playground's 100 ms).
    public var backpressurePauseMillis = 100
    /// Sleep in every minute, not only even ones: backpressure a test can count on.
    public var backpressureEveryMinute = false
    public var deliveryGuarantee: DeliveryGuarantee = .exactlyOnce(prefix: "click-count")
    public var groupId = "click-event-count"
    public var malformedRecords: MalformedRecordPolicy = .fail
    public var restartStrategy: RestartStrategy = .fixedDelay(attempts: 3, delay: .milliseconds(1000))
    public var transactionTimeout: Duration = .seconds(900)
    /// The sink holds records back while a commit is pending, for brokers whose last stable offset
    /// moves only while no transaction is open (see `KafkaSinkConfiguration.holdBackWhileCommitPending`).
    /// On by default: the playground runs on such a broker.
    public var holdBackWhileCommitPending = true
    /// A partition without records for this long stops holding the watermark back (the playground's
    /// 5 s). An outage longer than this can make records late: when the partitions come back one
    /// after the other, the first one alone moves the watermark (Flink's idleness semantics).
    public var idlenessMillis: Int64 = ClickCountJob.idlenessMillis
    /// Start from this savepoint or checkpoint (folder or its `_metadata`), e.g. with another parallelism.
    public var restoreFrom: String?
    /// Where keyed state (the open windows) lives: on the heap, or on disk with incremental checkpoints.
    public var stateBackend: StateBackendChoice = .heap
    /// Checkpoints in flight at once (Flink's maxConcurrentCheckpoints).
    public var maxConcurrentCheckpoints = 1
    /// librdkafka properties for every client of the job (security.protocol, ssl.*, sasl.*, ...); the
    /// sink's recovery connections read their TLS and SASL settings from them too.
    public var clientProperties: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }
}

/// The playground's click-count job: read click events, count them per page in 15 s tumbling
/// windows, write one statistics record per window and page.
public enum ClickCountJob {
    public static let windowSize: Int64 = ClickEventSequence.windowSizeMilliseconds
    public static let outOfOrdernessMillis: Int64 = 200
    public static let idlenessMillis: Int64 = 5000

    /// Declares the job on a new environment; `execute()` runs it.
    public static func environment(_ options: ClickCountJobOptions, logger: Logger) throws -> StreamExecutionEnvironment {
        var configuration = RuntimeConfiguration(
            jobName: "click-count",
            defaultParallelism: options.parallelism,
            checkpointing: CheckpointConfig(interval: options.checkpointInterval, directory: options.checkpointDirectory),
            restartStrategy: options.restartStrategy,
            restoreFrom: options.restoreFrom,
            logger: logger)
        configuration.stateBackend = options.stateBackend
        configuration.checkpointing.maxConcurrentCheckpoints = options.maxConcurrentCheckpoints
        let env = StreamExecutionEnvironment(configuration)

        let source = KafkaSource<ClickEvent>(
            configuration: KafkaSourceConfiguration(
                bootstrapServers: options.bootstrapServers, topics: [options.inputTopic], startingOffsets: .earliest,
                groupId: options.groupId, malformedRecords: options.malformedRecords,
                consumerSettings: options.clientProperties),
            deserializer: { record in try ClickEvent.decode(record.value ?? []) })
        let watermarks: WatermarkStrategy<ClickEvent> = options.eventTime
            ? WatermarkStrategy<ClickEvent>.boundedOutOfOrderness(outOfOrdernessMillis)
                .withIdleness(options.idlenessMillis)
                .withTimestampAssigner { event, _ in event.timestamp }
            : .noWatermarks
        var clicks = env.fromSource(source, name: "ClickEvent Source", parallelism: options.parallelism, watermarkStrategy: watermarks)

        if options.backpressure {
            let pause = BackpressureMap(pauseMillis: options.backpressurePauseMillis, everyMinute: options.backpressureEveryMinute)
            clicks = clicks.keyBy { $0.page }.map(name: "Backpressure") { event in
                pause.pause()
                return event
            }
        }

        let keyed = clicks.keyBy { $0.page }
        let windowed = options.eventTime
            ? keyed.window(TumblingEventTimeWindows(sizeMillis: windowSize))
            : keyed.window(TumblingProcessingTimeWindows(sizeMillis: windowSize))
        let statistics = windowed.count(name: "ClickEvent Counter").map(name: "ToStatistics") { result in
            ClickEventStatistics(windowStart: result.window.start, windowEnd: result.window.end, page: result.key, count: Int64(result.value))
        }

        let sink = KafkaSink<ClickEventStatistics>(
            configuration: KafkaSinkConfiguration(
                bootstrapServers: options.bootstrapServers, topic: options.outputTopic,
                deliveryGuarantee: options.deliveryGuarantee, transactionTimeout: options.transactionTimeout,
                holdBackWhileCommitPending: options.holdBackWhileCommitPending,
                producerSettings: options.clientProperties),
            serializer: { stats in KafkaSinkRecord(value: stats.jsonBytes(), timestamp: stats.windowEnd - 1) })
        // Refuse a bad sink configuration (transaction timeout against the checkpoint interval and the
        // broker's maximum) before anything starts, rather than in every restart of a subtask.
        try sink.validate(checkpointInterval: options.checkpointInterval)
        statistics.sinkTo(sink, name: "ClickEventStatistics Sink")
        return env
    }
}

/// The playground's backpressure operator: 100 ms per event during even wall-clock minutes.
struct BackpressureMap: Sendable {
    let pauseMillis: Int
    let everyMinute: Bool

    func pause(now: Date = Date()) {
        let minute = Int(now.timeIntervalSince1970 / 60)
        if everyMinute || minute % 2 == 0 { Thread.sleep(forTimeInterval: Double(pauseMillis) / 1000) }
    }
}
