import ArgumentParser
import Foundation
import SluiceTestKit

/// `sluice-fuzz-wire`: millions of mutated broker responses through the wire decoders, beyond the
/// few thousand the test suite runs. Every case must decode or end in a KafkaWireError; a crash ends
/// the command (and names no case: rerun with the same seed and fewer cases to find it).
@main
struct FuzzWireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-fuzz-wire",
        abstract: "Feeds mutated captured Kafka responses to the wire decoders and reports how each ended.",
        discussion: "Run from the repository root (the fixtures are in Tests/SluiceKafkaWireTests/Fixtures/wire), e.g. .build/debug/sluice-fuzz-wire --cases 5000000 --seed 42.")

    @Option(help: "Mutated responses to decode.") var cases = 1_000_000
    @Option(help: "Seed of the mutations (the same seed gives the same cases).") var seed: UInt64 = 1
    @Option(help: "Folder of captured responses (*.hex).") var fixtures = "Tests/SluiceKafkaWireTests/Fixtures/wire"

    func run() throws {
        let loaded = try WireFixture.load(from: fixtures)
        guard !loaded.isEmpty else { throw ValidationError("no *.hex fixtures in \(fixtures): run from the repository root or pass --fixtures") }
        print("fuzz-wire: \(loaded.count) fixtures (\(loaded.map(\.name).joined(separator: ", "))), \(cases) cases, seed \(seed)")
        let started = Date()
        let report = try WireFuzz.run(fixtures: loaded, cases: cases, seed: seed) { progress in
            print("fuzz-wire: \(progress.cases) cases so far, none crashed")
            fflush(nil)
        }
        print("fuzz-wire: \(report) in \(Int(Date().timeIntervalSince(started))) s")
    }
}
