import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// One embedded broker shared by this test target (topics and transactional ids are unique per test).
enum WireTestBroker {
    static let shared: Result<EmbeddedBroker, any Error> = Result { try EmbeddedBroker.start() }

    static func topic(_ prefix: String, partitions: Int = 1) throws -> (EmbeddedBroker, String) {
        let broker = try shared.get()
        let name = EmbeddedBroker.uniqueName(prefix)
        try broker.createTopic(name, partitions: partitions)
        return (broker, name)
    }
}

struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
}

/// The JSON line `sluice-fixture open-transaction` prints before it sleeps.
struct OpenTransactionLine: Decodable {
    var producerId: Int64
    var epoch: Int16
    var transactionalId: String
    var firstOffsets: [String: Int64]

    /// The committable, with "topic-partition" keys parsed (the partition is after the last dash).
    func committable(includeOffsets: Bool = true) throws -> TransactionCommittable {
        var offsets: [TopicPartition: Int64] = [:]
        if includeOffsets {
            for (key, offset) in firstOffsets {
                guard let dash = key.lastIndex(of: "-"), let partition = Int32(key[key.index(after: dash)...]) else {
                    throw FixtureFailure(description: "cannot parse partition key \(key)")
                }
                offsets[TopicPartition(String(key[..<dash]), partition)] = offset
            }
        }
        return TransactionCommittable(transactionalId: transactionalId, producerId: producerId, epoch: epoch,
                                      firstOffsets: offsets)
    }
}

/// Runs `sluice-fixture open-transaction`, waits (bounded) for its JSON line, then kills it with SIGKILL.
func openTransactionInChildAndKill(bootstrap: String, topic: String, transactionalId: String, count: Int) throws
    -> OpenTransactionLine
{
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let binary = packageRoot.appendingPathComponent(".build/debug/sluice-fixture").path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw FixtureFailure(description: "\(binary) is missing: run `swift build --product sluice-fixture` first")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["open-transaction", "--bootstrap", bootstrap, "--topic", topic,
                         "--transactional-id", transactionalId, "--count", String(count), "--partition", "0"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
    let line = LineBox()
    let reader = Thread {
        var data = Data()
        while !data.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        line.set(data)
    }
    reader.start()
    guard line.wait(seconds: 30), let data = line.value, let end = data.firstIndex(of: UInt8(ascii: "\n")) else {
        throw FixtureFailure(description: "sluice-fixture printed no line within 30 s")
    }
    kill(process.processIdentifier, SIGKILL)
    return try JSONDecoder().decode(OpenTransactionLine.self, from: data[..<end])
}

/// A value handed from a reader thread to the test, with a bounded wait.
final class LineBox: @unchecked Sendable {
    // @unchecked: `data` is written once before `semaphore.signal()` and read only after `wait` succeeds.
    private var data: Data?
    private let semaphore = DispatchSemaphore(value: 0)

    func set(_ value: Data) {
        data = value
        semaphore.signal()
    }

    func wait(seconds: Double) -> Bool { semaphore.wait(timeout: .now() + seconds) == .success }
    var value: Data? { data }
}

func transactionalProducer(_ broker: EmbeddedBroker, id: String) throws -> KafkaTransactionalProducer {
    var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
    configuration.transactionalId = id
    configuration.transactionTimeout = .milliseconds(900_000)
    configuration.messageTimeout = .milliseconds(60_000)
    let producer = try KafkaTransactionalProducer(configuration: configuration)
    try producer.initTransactions(timeout: .seconds(30))
    return producer
}

func values(_ records: [CommittedRecord]) -> [String] {
    records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
}
