import ArgumentParser
import Foundation
import SluiceApp
import SluiceKafkaWire

struct ReadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Reads a topic as a read_committed consumer should see it, and lists its transactions.",
        discussion: """
            Decodes the record batches itself and honours COMMIT/ABORT control markers per producer id, so the \
            answer is right even on brokers that show aborted records to read_committed consumers.
            """)

    @OptionGroup var kafka: BootstrapOption
    @OptionGroup var client: ClientConfigOptions
    @Argument(help: "The topic to read.") var topic: String
    @Flag(help: "Print each committed record's value.") var values = false
    @Flag(help: "List the transactions seen (producer id, epoch, offsets, state).") var transactions = false

    func run() throws {
        let reader = try TransactionAwareLogReader(bootstrap: try kafka.resolved(),
                                               connection: try client.connectionOptions())
        let log = try reader.readTopic(topic)
        for partition in log.partitions {
            let open = partition.openTransactions.count
            print("\(partition.topicPartition): offsets \(partition.startOffset)..<\(partition.endOffset), "
                + "\(partition.committedRecords.count) committed records, \(partition.transactions.count) transactions"
                + (open > 0 ? " (\(open) OPEN, last stable offset \(partition.lastStableOffset))" : ""))
            if transactions {
                for txn in partition.transactions {
                    print("  producer \(txn.producerId) epoch \(txn.producerEpoch): offsets \(txn.firstOffset)...\(txn.lastOffset), "
                        + "\(txn.recordCount) records, \(txn.state.rawValue)")
                }
            }
            if values {
                for record in partition.committedRecords {
                    print("  @\(record.offset) " + (record.value.map { String(decoding: $0, as: UTF8.self) } ?? "null"))
                }
            }
        }
        print("total: \(log.committedRecords.count) committed records, \(log.transactions.count) transactions")
    }
}
