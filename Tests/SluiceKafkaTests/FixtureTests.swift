import Foundation
import SluiceKafka
import SluiceTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `sluice-fixture open-transaction` child program, killed with SIGKILL after it reports.
@Suite("sluice-fixture open-transaction")
struct FixtureTests {
    struct Output: Decodable {
        var producerId: Int64
        var epoch: Int16
        var transactionalId: String
        var firstOffsets: [String: Int64]
    }

    /// The fixture binary next to the test bundle (`swift build --build-tests` builds it).
    static func fixturePath() throws -> String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice-fixture").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/sluice-fixture").path,
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestTimeout(description: "sluice-fixture not built (run swift build --build-tests); looked at \(candidates)")
        }
        return found
    }

    @Test func leavesAnOpenTransactionAndReportsItsIdentity() throws {
        let (broker, topic) = try TestBroker.topic("fixture", partitions: 1)
        let id = EmbeddedBroker.uniqueName("fixture-txn")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.fixturePath())
        process.arguments = [
            "open-transaction", "--bootstrap", broker.bootstrap, "--topic", topic, "--transactional-id", id,
            "--count", "5",
        ]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // One line of JSON; the child then sleeps until killed. Read on a helper thread, bounded.
        let line = try readLine(stdout.fileHandleForReading, limit: .seconds(20))
        let output = try JSONDecoder().decode(Output.self, from: Data(line.utf8))
        #expect(output.transactionalId == id)
        #expect(output.producerId >= 0)
        #expect(output.epoch >= 0)
        #expect(output.firstOffsets == ["\(topic)-0": 0])
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        // The transaction stays open after the kill: invisible to read_committed, visible uncommitted.
        #expect(try readAll(broker, topic: topic, partitions: 1, isolation: .readCommitted).isEmpty)
        let uncommitted = try readAll(broker, topic: topic, partitions: 1, isolation: .readUncommitted)
        #expect(uncommitted.compactMap(\.valueString) == (0..<5).map { "record-\($0)" })
        #expect(uncommitted.compactMap(\.keyString) == (0..<5).map { "k\($0)" })
    }

    func readLine(_ handle: FileHandle, limit: Duration) throws -> String {
        let result = ResultBox()
        let thread = Thread {
            var bytes: [UInt8] = []
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                bytes += chunk
                if bytes.contains(UInt8(ascii: "\n")) { break }
            }
            result.set(String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self))
        }
        thread.start()
        guard let line = result.wait(limit) else { throw TestTimeout(description: "no line from sluice-fixture") }
        return line
    }
}

/// A value handed from one thread to another, with a bounded wait.
final class ResultBox: @unchecked Sendable {
    // Safe: `value` is only touched under `condition`'s lock.
    private let condition = NSCondition()
    private var value: String?

    func set(_ newValue: String) {
        condition.lock()
        value = newValue
        condition.broadcast()
        condition.unlock()
    }

    func wait(_ limit: Duration) -> String? {
        let deadline = Date().addingTimeInterval(Double(limit.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while value == nil, condition.wait(until: deadline) {}
        return value
    }
}
