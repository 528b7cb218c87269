import ArgumentParser
import Foundation
import SluiceApp
import SluiceClickCount
import SluiceKafkaWire

struct VerifyClickCountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-click-count",
        abstract: "Checks the click-count output topic: every (window, page) exactly once with count 1000.",
        discussion: "Exits 0 when the committed output is exact, 1 otherwise, printing what is missing, duplicated or wrong.")

    @OptionGroup var kafka: BootstrapOption
    @OptionGroup var client: ClientConfigOptions
    @Option(help: "The output topic.") var topic = "output"
    @Option(help: "How many complete windows the generator wrote.") var windows: Int

    func run() throws {
        let reader = try TransactionAwareLogReader(bootstrap: try kafka.resolved(),
                                               connection: try client.connectionOptions())
        let log = try reader.readTopic(topic)
        let verdict = ClickCountVerdict(outputValues: log.committedRecords.compactMap(\.value), windows: windows)
        print(verdict)
        if !verdict.isExact { throw ExitCode(1) }
    }
}
