import ArgumentParser
import Foundation
import SluiceApp
import Logging
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime
import Synchronization

/// Consumer settings both pass-throughs share: without `fetch.queue.backoff.ms` librdkafka pauses
/// fetching for 1 s whenever its local queue is full (kafka-facts, throughput).
let benchConsumerSettings = ["fetch.queue.backoff.ms": "10"]

/// (a) The practical limit: one librdkafka consumer (manual assignment, earliest) feeding one
/// idempotent producer (linger 5 ms), no framework. Each record keeps its partition and timestamp.
struct RawPassThrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-passthrough", abstract: "Contender (a): librdkafka consume → produce, no framework. Runs until killed.")

    @Option var bootstrap: String
    @Option var input: String
    @Option var output: String
    @OptionGroup var client: ClientConfigOptions

    func run() throws {
        let properties = try client.resolved()
        var consumerSettings = KafkaConfiguration(bootstrapServers: bootstrap, properties)
        consumerSettings.groupId = "bench-raw"
        consumerSettings.clientId = "bench-raw-consumer"
        for (key, value) in benchConsumerSettings { consumerSettings[key] = value }
        let consumer = try KafkaConsumer(configuration: consumerSettings)
        let partitions = try consumer.describeTopic(input).partitions.map(\.id)
        try consumer.assign(Dictionary(uniqueKeysWithValues: partitions.map { (TopicPartition(input, $0), KafkaOffset.beginning) }))

        var producerSettings = KafkaConfiguration(bootstrapServers: bootstrap, properties)
        producerSettings.clientId = "bench-raw-producer"
        producerSettings.enableIdempotence = true
        producerSettings.linger = .milliseconds(5)
        let producer = try KafkaProducer(configuration: producerSettings, deliveryReports: .collectFailures)
        print("raw-passthrough: ready, \(partitions.count) partitions")
        while true {
            for record in try consumer.pollRecords(maxRecords: 10_000, timeout: .milliseconds(100)) {
                try producer.produce(ProducerRecord(
                    topic: output, partition: record.partition, value: record.value, timestamp: record.timestamp))
            }
            if producer.failedDeliveryCount > 0 {
                throw BenchError.contenderFailed(name: "raw", detail: "\(producer.failedDeliveryCount) deliveries failed")
            }
        }
    }
}

/// (b) A Sluice job: KafkaSource → map → Kafka sink (at-least-once or exactly-once), 1 s
/// checkpoints, parallelism 2. The map copies value, partition and timestamp.
struct SluicePassThrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-passthrough", abstract: "Contender (b): a Sluice source → map → sink job. Runs until killed.")

    @Option var bootstrap: String
    @Option var input: String
    @Option var output: String
    @Option(help: "atLeastOnce or exactlyOnce") var deliveryGuarantee = "exactlyOnce"
    @Option var parallelism = 2
    @Option var checkpointIntervalMs: Int64 = 1000
    @Option var checkpointDir: String
    @Option(help: "Prefix of the sink's transactional ids (the bench gives one per run).") var transactionalIdPrefix: String
    @OptionGroup var client: ClientConfigOptions

    func run() throws {
        let properties = try client.resolved()
        guard let guarantee = DeliveryGuarantee(name: deliveryGuarantee, transactionalIdPrefix: transactionalIdPrefix) else {
            throw ValidationError("--delivery-guarantee must be atLeastOnce or exactlyOnce")
        }
        var logger = Logger(label: "sluice-passthrough")
        logger.logLevel = .info
        let configuration = RuntimeConfiguration(
            jobName: "bench-passthrough", defaultParallelism: parallelism,
            checkpointing: CheckpointConfig(interval: .milliseconds(checkpointIntervalMs), directory: checkpointDir),
            restartStrategy: .none, logger: logger)
        let env = StreamExecutionEnvironment(configuration)
        let source = KafkaSource<KafkaRecord>(
            configuration: KafkaSourceConfiguration(
                bootstrapServers: bootstrap, topics: [input], startingOffsets: .earliest, groupId: transactionalIdPrefix,
                partitionDiscoveryInterval: nil, consumerSettings: benchConsumerSettings.merging(properties) { $1 }),
            deserializer: { $0 })
        let mapped = env.fromSource(source, name: "Source", parallelism: parallelism)
            .map(name: "PassThrough") { record in
                KafkaSinkRecord(value: record.value, partition: record.partition, timestamp: record.timestamp)
            }
        // The bench runs on the embedded broker, whose last stable offset needs the hold-back.
        let sink = KafkaSink<KafkaSinkRecord>(
            configuration: KafkaSinkConfiguration(
                bootstrapServers: bootstrap, topic: output, deliveryGuarantee: guarantee, holdBackWhileCommitPending: true,
                producerSettings: properties),
            serializer: { $0 })
        try sink.validate(checkpointInterval: .milliseconds(checkpointIntervalMs))
        mapped.sinkTo(sink, name: "Sink")
        print("sluice-passthrough: starting (\(deliveryGuarantee), parallelism \(parallelism))")
        try env.execute()
    }
}

/// Counts the records a keyed function has seen, across subtasks.
let stateKeysSeen = Atomic<Int>(0)

/// Keeps one Int64 of heap state per key.
final class CountPerKey: KeyedProcessFunction {
    typealias Key = Int
    typealias Input = Int
    typealias Output = Int
    private var count: ValueState<Int64>?

    func open(_ context: KeyedContext<Int>) throws {
        count = try context.state(ValueStateDescriptor<Int64>("count"))
    }

    func processElement(_ value: Int, context: KeyedContext<Int>, out: Collector<Int>) throws {
        count?.update((count?.value() ?? 0) + 1)
        stateKeysSeen.add(1, ordering: .relaxed)
    }
}

/// Discards everything.
final class DiscardingSink: SinkWriter {
    typealias Input = Int
    func write(_ value: Int, timestamp: Int64?) throws {}
    func flush() throws {}
}

/// Captures the runtime's "Checkpoint N complete (B bytes, D ms)." lines, and prints every line.
struct CheckpointCapturingLogHandler: LogHandler {
    static let completed = Mutex<[(id: Int, bytes: Int, millis: Double, at: ContinuousClock.Instant)]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = "\(event.message)"
        print("\(event.level) \(text)")
        let summary = CheckpointLogSummary(log: text)
        if summary.count == 1, let millis = summary.durationsMillis.first {
            let id = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            Self.completed.withLock { $0.append((id, summary.lastBytes, millis, .now)) }
        }
    }
}

/// The 1,000,000-key heap-state checkpoint: a job that puts one value per key into keyed state,
/// then reports the first periodic checkpoint that certainly holds every key.
struct StateCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state-checkpoint", abstract: "Measures a periodic checkpoint of N keys of heap keyed state.")

    @Option var keys = 1_000_000
    @Option var parallelism = 2
    @Option var checkpointIntervalMs: Int64 = 1000
    @Option var checkpointDir: String

    func run() throws {
        let logger = Logger(label: "state-checkpoint") { _ in CheckpointCapturingLogHandler() }
        let configuration = RuntimeConfiguration(
            jobName: "bench-state", defaultParallelism: parallelism,
            checkpointing: CheckpointConfig(interval: .milliseconds(checkpointIntervalMs), directory: checkpointDir),
            logger: logger)
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(Array(0..<keys), recordsPerPoll: 1024, endless: true), name: "Keys", parallelism: parallelism)
            .keyBy { $0 }
            .process(name: "CountPerKey", CountPerKey())
            .sinkTo(DiscardingSink(), name: "Discard")
        let control = env.control
        let finished = FinishedFlag()
        let handoff = EnvironmentHandoff(environment: env)
        let thread = Thread {
            do { try handoff.environment.execute() } catch { print("state-checkpoint: job failed: \(error)") }
            finished.value.store(true, ordering: .releasing)
        }
        thread.name = "sluice-job"
        thread.start()

        // Wait until every key is in state, then for the second checkpoint completing after that:
        // the first may have snapshotted before the last keys arrived.
        let deadline = ContinuousClock.now + .seconds(300)
        while stateKeysSeen.load(ordering: .relaxed) < keys {
            guard ContinuousClock.now < deadline, !finished.value.load(ordering: .acquiring) else {
                control.cancel()
                throw BenchError.timedOut(what: "state-checkpoint", seconds: 300, detail: "\(stateKeysSeen.load(ordering: .relaxed)) of \(keys) keys processed")
            }
            usleep(10_000)
        }
        let allKeysAt = ContinuousClock.now
        var measured: (id: Int, bytes: Int, millis: Double, at: ContinuousClock.Instant)?
        while measured == nil {
            let after = CheckpointCapturingLogHandler.completed.withLock { $0.filter { $0.at > allKeysAt } }
            if after.count >= 2 { measured = after[1] }
            guard ContinuousClock.now < deadline, !finished.value.load(ordering: .acquiring) else {
                control.cancel()
                throw BenchError.timedOut(what: "state-checkpoint", seconds: 300, detail: "no checkpoint completed after all keys were in state")
            }
            usleep(10_000)
        }
        control.cancel()
        while !finished.value.load(ordering: .acquiring) { usleep(10_000) }
        if let measured {
            print("STATE-CHECKPOINT keys=\(keys) parallelism=\(parallelism) checkpoint=\(measured.id) bytes=\(measured.bytes) ms=\(measured.millis)")
        }
    }
}

/// Set by the job thread when `execute()` returned.
final class FinishedFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Hands a declared environment to the thread that executes it. @unchecked: the environment is
/// only declared before the hand-off and only executed on that thread afterwards; cancelling goes
/// through its Sendable `JobControl`.
struct EnvironmentHandoff: @unchecked Sendable {
    let environment: StreamExecutionEnvironment
}
