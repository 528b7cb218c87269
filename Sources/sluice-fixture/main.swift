/// sluice-fixture: small child programs the integration tests start and kill.
import ArgumentParser
import Foundation
import Logging
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime

@main
struct SluiceFixture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-fixture",
        abstract: "Child programs for Sluice's integration tests.",
        subcommands: [OpenTransaction.self, Throughput.self, OversizeJob.self])
}

/// Leaves a transaction open: init, begin, produce, flush, print the producer id, epoch and first
/// offsets as one JSON line, then sleep until killed.
struct OpenTransaction: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open-transaction",
        abstract: "Produce N records in a transaction, print its identity as JSON, and never commit.")

    @Option(help: "Kafka bootstrap servers.") var bootstrap: String
    @Option(help: "Topic to write to.") var topic: String
    @Option(help: "The transactional.id to use.") var transactionalId: String
    @Option(help: "How many records to produce.") var count: Int
    @Option(help: "Partition to write to (default: the partitioner chooses by key).") var partition: Int32?
    @Option(help: "Seconds to wait for the broker.") var timeout: Int = 30

    struct Output: Encodable {
        var producerId: Int64
        var epoch: Int16
        var transactionalId: String
        var firstOffsets: [String: Int64]
    }

    func run() throws {
        var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
        configuration.transactionalId = transactionalId
        configuration.transactionTimeout = .milliseconds(900_000)
        configuration.messageTimeout = .milliseconds(60_000)
        let producer = try KafkaTransactionalProducer(configuration: configuration)
        let limit = Duration.seconds(timeout)
        try producer.initTransactions(timeout: limit)
        try producer.beginTransaction()
        for index in 0..<count {
            try producer.produce(
                ProducerRecord(topic: topic, partition: partition, key: "k\(index)", value: "record-\(index)"))
        }
        try producer.flush(timeout: limit)
        let failed = producer.drainDeliveryReports().compactMap(\.error)
        if let first = failed.first { throw first }
        let identity = try producer.producerIdAndEpoch(timeout: limit)
        let firstOffsets = Dictionary(
            uniqueKeysWithValues: producer.currentTransactionFirstOffsets.map { ($0.key.description, $0.value) })
        let output = Output(
            producerId: identity.producerId, epoch: identity.epoch, transactionalId: transactionalId,
            firstOffsets: firstOffsets)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try encoder.encode(output), as: UTF8.self)
        // An unbuffered write: the line reaches the pipe at once, before the test kills this process.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
        while true { sleep(3600) }
    }
}

/// Measures produce and consume throughput of SluiceKafka against a broker (not a test: prints numbers).
struct Throughput: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput", abstract: "Produce then consume N records of S bytes and print the rates.")

    @Option(help: "Kafka bootstrap servers.") var bootstrap: String
    @Option(help: "Topic to create and use.") var topic: String = "throughput-\(UInt32.random(in: 0...UInt32.max))"
    @Option(help: "How many records.") var count: Int = 1_000_000
    @Option(help: "Value size in bytes.") var size: Int = 100
    @Option(help: "Extra consumer setting key=value (repeatable).") var consumerConfig: [String] = []

    func run() throws {
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
        try admin.createTopic(topic, partitions: 1, configs: ["retention.ms": "-1"])
        admin.close()

        var producerConfiguration = KafkaConfiguration(bootstrapServers: bootstrap)
        producerConfiguration.linger = .milliseconds(5)
        producerConfiguration.acks = .all
        let producer = try KafkaProducer(configuration: producerConfiguration, deliveryReports: .collectFailures)
        let value = [UInt8](repeating: 0x61, count: size)
        let clock = ContinuousClock()
        let produceTime = try clock.measure {
            for _ in 0..<count { try producer.produce(ProducerRecord(topic: topic, partition: 0, value: value)) }
            try producer.flush(timeout: .seconds(120))
        }
        let failures = producer.drainDeliveryReports().count
        producer.close()
        print("produced \(count) x \(size) B in \(produceTime): \(rate(count, produceTime)) records/s, \(failures) failed")

        var consumerConfiguration = KafkaConfiguration(bootstrapServers: bootstrap)
        consumerConfiguration.isolationLevel = .readUncommitted
        for setting in consumerConfig {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { consumerConfiguration[parts[0]] = parts[1] }
        }
        let consumer = try KafkaConsumer(configuration: consumerConfiguration)
        try consumer.assign([TopicPartition(topic, 0): KafkaOffset.beginning])
        var received = 0
        var reachedEnd = false
        let consumeTime = try clock.measure {
            while !reachedEnd {
                for event in try consumer.poll(maxRecords: 10_000, timeout: .seconds(5)) {
                    switch event {
                    case .record: received += 1
                    case .endOfPartition: reachedEnd = received >= count
                    case .error(let error), .offsetOutOfRange(_, offset: _, let error): print("consumer error: \(error)")
                    }
                }
            }
        }
        consumer.close()
        print("consumed \(received) in \(consumeTime) (to end of partition): \(rate(received, consumeTime)) records/s")
    }

    func rate(_ count: Int, _ duration: Duration) -> Int {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds > 0 ? Int(Double(count) / seconds) : 0
    }
}

/// A Kafka → map → exactly-once Kafka job in which the input value "big" becomes an output record
/// above the producer's message.max.bytes, and "unserialisable" one the sink's serializer rejects:
/// for the tests of the sink's unwritable-record policy.
struct OversizeJob: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oversize-job",
        abstract: "A job whose input value 'big' maps to an oversized output record. Runs until killed or failed.")

    @Option(help: "Kafka bootstrap servers.") var bootstrap: String
    @Option(help: "Input topic.") var input: String
    @Option(help: "Output topic.") var output: String
    @Option(help: "Checkpoint folder.") var checkpointDir: String
    @Option(help: "Transactional-id prefix.") var transactionalIdPrefix: String
    @Option(help: "The sink's unwritable-record policy: fail, skip or dead-letter:TOPIC.") var policy = "fail"
    @Option(help: "Restarts inside the process before the job fails.") var restartAttempts = 1

    func run() throws {
        let unwritable: MalformedRecordPolicy
        switch policy {
        case "fail": unwritable = .fail
        case "skip": unwritable = .skip
        case let text where text.hasPrefix("dead-letter:"): unwritable = .deadLetter(topic: String(text.dropFirst("dead-letter:".count)))
        default: throw ValidationError("--policy must be fail, skip or dead-letter:TOPIC")
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "oversize-job")
        logger.logLevel = .info
        let configuration = RuntimeConfiguration(
            jobName: "oversize-job", defaultParallelism: 1,
            checkpointing: CheckpointConfig(interval: .milliseconds(300), directory: checkpointDir),
            restartStrategy: .fixedDelay(attempts: restartAttempts, delay: .milliseconds(100)), logger: logger)
        let env = StreamExecutionEnvironment(configuration)
        let source = KafkaSource<String>(
            configuration: KafkaSourceConfiguration(
                bootstrapServers: bootstrap, topics: [input], startingOffsets: .earliest, groupId: transactionalIdPrefix,
                partitionDiscoveryInterval: nil),
            deserializer: { String(decoding: $0.value ?? [], as: UTF8.self) })
        let sink = KafkaSink<String>(
            configuration: KafkaSinkConfiguration(
                bootstrapServers: bootstrap, topic: output, deliveryGuarantee: .exactlyOnce(prefix: transactionalIdPrefix),
                transactionTimeout: .seconds(60), holdBackWhileCommitPending: true, unwritableRecords: unwritable),
            serializer: { value in
                if value == "unserialisable" { throw FixtureSerializerError() }
                return KafkaSinkRecord(value: Array(value.utf8))
            })
        env.fromSource(source, name: "Source")
            .map(name: "Inflate") { $0 == "big" ? String(repeating: "x", count: 1_200_000) : $0 }
            .sinkTo(sink, name: "Sink")
        do {
            try env.execute()
        } catch {
            FileHandle.standardError.write(Data("oversize-job failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct FixtureSerializerError: Error, CustomStringConvertible {
    var description: String { "the value 'unserialisable' has no serialised form" }
}
