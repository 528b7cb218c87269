import Foundation
import NIOCore
import SluiceKafkaWire

/// A response body captured from the embedded broker (see Tests/SluiceKafkaWireTests/Fixtures/wire/README.md):
/// the bytes after the response header, as `decodeResponse` reads them.
public struct WireFixture: Sendable {
    public var name: String
    public var api: String
    public var version: Int16
    public var body: [UInt8]

    /// Files named `API-vVERSION[-LABEL].hex` (hex digits, whitespace ignored) in `directory`.
    public static func load(from directory: String) throws -> [WireFixture] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".hex") }.sorted()
        return try names.map { name in
            let parts = name.dropLast(".hex".count).split(separator: "-")
            guard parts.count >= 2, parts[1].hasPrefix("v"), let version = Int16(parts[1].dropFirst()) else {
                throw WireFuzzError.badFixtureName(name)
            }
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8).filter(\.isHexDigit)
            var body: [UInt8] = []
            body.reserveCapacity(text.count / 2)
            var index = text.startIndex
            while let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex), index != text.endIndex {
                guard let byte = UInt8(text[index..<next], radix: 16) else { throw WireFuzzError.badFixtureName(name) }
                body.append(byte)
                index = next
            }
            return WireFixture(name: name, api: String(parts[0]), version: version, body: body)
        }
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 32).map { start in
            bytes[start..<min(start + 32, bytes.count)].map { String(format: "%02x", $0) }.joined()
        }.joined(separator: "\n") + "\n"
    }
}

public enum WireFuzzError: Error, CustomStringConvertible {
    case badFixtureName(String)
    case noFixtures(String)
    case untypedError(fixture: String, seed: UInt64, caseIndex: Int, error: String)

    public var description: String {
        switch self {
        case .badFixtureName(let name): return "Fixture \(name) is not named API-vVERSION[-LABEL].hex with hex contents."
        case .noFixtures(let directory): return "No *.hex fixtures in \(directory): pass --fixtures Tests/SluiceKafkaWireTests/Fixtures/wire."
        case .untypedError(let fixture, let seed, let caseIndex, let error):
            return "Case \(caseIndex) of seed \(seed) (from \(fixture)) failed with an error that is not a KafkaWireError: \(error)"
        }
    }
}

/// Feeds mutated responses to the decoders. A decoder may accept a mutation or throw a
/// `KafkaWireError`; anything else is a failure, and a trap ends the process (that is the test).
public enum WireFuzz {
    public struct Report: Sendable, CustomStringConvertible {
        public var cases = 0
        public var decoded = 0
        public var refused = 0
        public var refusals: [String: Int] = [:]

        public var description: String {
            let kinds = refusals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "\(cases) cases: \(decoded) decoded, \(refused) refused with a typed error (\(kinds)), 0 crashes"
        }
    }

    /// Decodes `body` as `fixture`'s API would, including every record batch of a Fetch response,
    /// with and without CRC checks (without, mutations reach the record and codec parsers).
    public static func decode(api: String, version: Int16, body: [UInt8]) throws {
        var reader = WireReader(bytes: body)
        switch api {
        case "apiversions": _ = try ApiVersionsRequest(version: version).decodeResponse(from: &reader)
        case "metadata": _ = try MetadataRequest(version: version, topics: nil).decodeResponse(from: &reader)
        case "findcoordinator": _ = try FindCoordinatorRequest(version: version, key: "", keyType: .transaction).decodeResponse(from: &reader)
        case "endtxn":
            _ = try EndTxnRequest(version: version, transactionalId: "", producerId: 0, producerEpoch: 0, committed: true)
                .decodeResponse(from: &reader)
        case "fetch":
            let response = try FetchRequest(version: version, maxWaitMs: 0, minBytes: 0, maxBytes: 0, isolationLevel: .readUncommitted, topics: [])
                .decodeResponse(from: &reader)
            var budget = DecodeBudget()
            var unchecked = DecodeBudget()
            for topic in response.topics {
                for partition in topic.partitions {
                    guard let records = partition.records else { continue }
                    let errors = [
                        Result { try RecordBatch.decodeAll(records, verifyCRC: false, budget: &unchecked) },
                        Result { try RecordBatch.decodeAll(records, verifyCRC: true, budget: &budget) },
                    ]
                    for case .failure(let error) in errors { throw error }
                }
            }
        default:
            throw WireFuzzError.badFixtureName(api)
        }
    }

    /// Runs `cases` mutations, spread over `fixtures` in turn; `progress` hears every million.
    public static func run(fixtures: [WireFixture], cases: Int, seed: UInt64, progress: (Report) -> Void = { _ in }) throws -> Report {
        guard !fixtures.isEmpty else { throw WireFuzzError.noFixtures("the fixture list") }
        var mutator = SeededMutator(seed: seed)
        var report = Report()
        // The unmutated fixtures must decode: else the fuzzing starts from nothing real.
        for fixture in fixtures { try decode(api: fixture.api, version: fixture.version, body: fixture.body) }
        for index in 0..<cases {
            let fixture = fixtures[index % fixtures.count]
            let input = mutator.mutate(fixture.body)
            report.cases += 1
            do {
                try decode(api: fixture.api, version: fixture.version, body: input)
                report.decoded += 1
            } catch let error as KafkaWireError {
                report.refused += 1
                report.refusals[kind(of: error), default: 0] += 1
            } catch {
                throw WireFuzzError.untypedError(fixture: fixture.name, seed: seed, caseIndex: index, error: "\(error)")
            }
            if report.cases % 1_000_000 == 0 { progress(report) }
        }
        return report
    }

    static func kind(of error: KafkaWireError) -> String {
        switch error {
        case .truncated: "truncated"
        case .malformed: "malformed"
        case .crcMismatch: "crc"
        case .unsupportedMagic: "magic"
        case .unsupportedCompression: "codec"
        case .decompressionFailed: "decompression"
        default: "other"
        }
    }
}
