/// sluice-fixture: small child programs the integration tests start and kill.
import ArgumentParser
import Foundation
import SluiceKafka

@main
struct SluiceFixture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-fixture",
        abstract: "Child programs for Sluice's integration tests.",
        subcommands: [OpenTransaction.self])
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
        configuration.transactionTimeoutMs = 900_000
        configuration.messageTimeoutMs = 60_000
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
