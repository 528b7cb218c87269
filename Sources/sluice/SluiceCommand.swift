// `sluice`: the operator's command-line tool — run the click-count job, watch it (status), take
// savepoints and stop with one, list checkpoints and savepoints, an embedded broker, a
// transaction-aware reader of topics, fault injection, the click-count verifier, and the demo.
import ArgumentParser
import Foundation

@main
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: Kafka-to-Kafka stream pipelines with exactly-once results.",
        subcommands: [
            DemoCommand.self, RunCommand.self, StatusCommand.self, SavepointCommand.self, StopCommand.self,
            CheckpointsCommand.self, InjectCommand.self, BrokerCommand.self, ReadCommand.self, VerifyClickCountCommand.self, FuzzWireCommand.self,
        ])
}

/// Where to find Kafka: `--bootstrap`, else `KAFKA_BOOTSTRAP`.
struct BootstrapOption: ParsableArguments {
    @Option(name: [.customLong("bootstrap"), .customLong("bootstrap.servers")], help: "Kafka bootstrap servers (host:port); default: $KAFKA_BOOTSTRAP.")
    var bootstrap: String?

    func resolved() throws -> String {
        if let bootstrap { return bootstrap }
        if let environment = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"], !environment.isEmpty { return environment }
        throw ValidationError("Give --bootstrap host:port or set KAFKA_BOOTSTRAP (start a broker with `sluice broker`).")
    }
}
