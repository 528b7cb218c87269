// The click-count job of Flink's operations playground, on Sluice, with exactly-once output. The
// standard command line, life cycle, signals and status server come from SluiceApp; this file keeps
// the job's dataflow and the playground's own flags.
import Foundation
import SluiceApp
import SluiceClickCount

@main
struct ClickCountJobCommand: SluiceJob {
    static let name = "click-count"
    static let commandName = "click-count-job"
    static let abstract = "Counts click events per page in 15 s tumbling windows, from Kafka to Kafka, exactly once."

    /// The playground's flags, and the spellings click-count-job had before SluiceApp.
    struct Options: ParsableArguments {
        @Option(help: "Topic of click events.") var inputTopic = "input"
        @Option(help: "Topic of window statistics.") var outputTopic = "output"
        @Flag(help: "Checkpoint periodically (the playground's switch; without it checkpoints are off, so only at-least-once or none).")
        var checkpointing = false
        @Option(help: "Checkpoint interval in milliseconds (same as --checkpoint-interval).") var checkpointIntervalMs: Int?
        @Flag(help: "Event-time windows (otherwise processing time).") var eventTime = false
        @Option(help: "Milliseconds without records after which a partition no longer holds the watermark back.")
        var idlenessMs: Int64 = ClickCountJob.idlenessMillis
        @Flag(help: "Add an operator that sleeps 100 ms per event in even minutes.") var backpressure = false
        @Option(help: "The backpressure operator's sleep per event, in milliseconds.") var backpressurePauseMs = 100
        @Flag(help: "The backpressure operator sleeps in every minute, not only even ones.") var backpressureEveryMinute = false
        @Flag(name: .customLong("no-hold-back-while-commit-pending"),
              help: "Do not hold records back while a commit is pending (click-count holds them back by default: the playground's broker needs it).")
        var noHoldBackWhileCommitPending = false
        @Option(help: "Transaction timeout in seconds (same as --transaction-timeout).") var transactionTimeoutSeconds: Int?
        @Option(help: "What to do with malformed events: fail or skip.") var malformed = "fail"
        @Option(help: "Skip malformed events and write them to this topic (at least once), with headers naming their origin.")
        var deadLetterTopic: String?

        func validate() throws {
            guard ["fail", "skip"].contains(malformed) else { throw ValidationError("--malformed must be fail or skip") }
            guard backpressurePauseMs >= 0 else { throw ValidationError("--backpressure-pause-ms must not be negative") }
            if let checkpointIntervalMs, checkpointIntervalMs < 1 {
                throw ValidationError("--checkpoint-interval-ms must be at least 1")
            }
        }
    }

    static func configure(_ settings: inout JobSettings, options: Options) throws {
        // The playground checkpoints only with --checkpointing.
        settings.checkpointInterval = options.checkpointing
            ? options.checkpointIntervalMs.map { .milliseconds($0) } ?? settings.checkpointInterval
            : nil
        if settings.deliveryGuarantee == .exactlyOnce && !options.checkpointing {
            throw ValidationError("exactly-once output is committed at checkpoints: add --checkpointing, or use --delivery-guarantee atLeastOnce")
        }
        settings.holdBackWhileCommitPending = !options.noHoldBackWhileCommitPending
        // The playground's consumer group, unless --group-id names another.
        if settings.groupId == name { settings.groupId = ClickCountJob.groupId }
        if let seconds = options.transactionTimeoutSeconds { settings.transactionTimeout = .seconds(seconds) }
    }

    static func build(_ job: JobBuilder, options: Options) throws {
        let malformed: MalformedRecordPolicy = options.deadLetterTopic.map { .deadLetter(topic: $0) }
            ?? (options.malformed == "skip" ? .skip : .fail)
        let watermarks: WatermarkStrategy<ClickEvent> = options.eventTime
            ? WatermarkStrategy<ClickEvent>.boundedOutOfOrderness(ClickCountJob.outOfOrdernessMillis)
                .withIdleness(options.idlenessMs)
                .withTimestampAssigner { event, _ in event.timestamp }
            : .noWatermarks
        var clicks = job.kafkaSource(
            topics: [options.inputTopic], name: "ClickEvent Source", watermarks: watermarks, malformed: malformed
        ) { record in try ClickEvent.decode(record.value ?? []) }

        if options.backpressure {
            let pause = BackpressureMap(pauseMillis: options.backpressurePauseMs, everyMinute: options.backpressureEveryMinute)
            clicks = clicks.keyBy { $0.page }.map(name: "Backpressure") { event in
                pause.pause()
                return event
            }
        }

        let keyed = clicks.keyBy { $0.page }
        let windowed = options.eventTime
            ? keyed.window(TumblingEventTimeWindows(sizeMillis: ClickCountJob.windowSize))
            : keyed.window(TumblingProcessingTimeWindows(sizeMillis: ClickCountJob.windowSize))
        try windowed.count(name: "ClickEvent Counter")
            .map(name: "ToStatistics") { result in
                ClickEventStatistics(windowStart: result.window.start, windowEnd: result.window.end, page: result.key, count: Int64(result.value))
            }
            .sinkToKafka(job, topic: options.outputTopic, name: "ClickEventStatistics Sink") { stats in
                KafkaSinkRecord(value: stats.jsonBytes(), timestamp: stats.windowEnd - 1)
            }
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
