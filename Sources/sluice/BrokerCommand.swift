import ArgumentParser
import Foundation
import SluiceEmbeddedBroker

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Runs the embedded Kafka-compatible broker (Tansu, in memory) on a free loopback port.",
        discussion: "Prints KAFKA_BOOTSTRAP=host:port, creates the topics given, and runs until interrupted. Its data is lost when it stops.")

    @Option(name: .customLong("topic"), help: "A topic to create, as NAME:PARTITIONS (repeatable).")
    var topics: [String] = []

    func run() throws {
        let broker = try EmbeddedBroker.start(environment: [:])
        for spec in topics {
            let parts = spec.split(separator: ":")
            let partitions = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
            try broker.createTopic(String(parts[0]), partitions: partitions)
        }
        print("KAFKA_BOOTSTRAP=\(broker.bootstrap)")
        fflush(nil)  // flush every output stream: the caller reads the address from a pipe
        let signals = DispatchQueue(label: "sluice.broker.signals")
        let done = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signals)
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        broker.stop()
        print("broker stopped")
    }
}
