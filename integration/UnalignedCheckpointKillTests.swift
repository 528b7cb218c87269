import Foundation
import SluiceClickCount
import SluiceEmbeddedBroker
import SluiceTestKit
import Testing

/// Unaligned checkpoints on the playground's backpressure scenario: barriers overtake the records
/// queued before the slow operator, which are stored with the checkpoint and replayed on restore.
/// The job is SIGKILLed right after such checkpoints, at seeded random moments, and the committed
/// output must still be exact.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct UnalignedCheckpointKillTests {
    static let arguments = [
        "--backpressure", "--backpressure-every-minute", "--backpressure-pause-ms", "1",
        "--unaligned-checkpoints", "--checkpoint-interval-ms", "500",
    ]

    @Test func backpressuredClickCountSurvivesSigkillsAfterUnalignedCheckpoints() throws {
        var random = SplitMix64.forTest()
        print("backpressuredClickCountSurvivesSigkillsAfterUnalignedCheckpoints: SLUICE_TEST_SEED=\(random.seed)")
        let scenario = try ClickCountScenario("unaligned")
        defer { scenario.tearDown() }
        let windows = 8
        try scenario.generate(windows: windows, rate: 12_000, wait: false)
        var job = try scenario.startJob(extraArguments: Self.arguments)
        var kills = 0
        var replays = 0
        var unalignedCheckpoints: [Int64] = []
        for _ in 0..<3 {
            // A checkpoint of this run that holds records in flight: the next restore replays them.
            let before = scenario.completedCheckpoints().last ?? 0
            var found: Int64?
            let deadline = Date().addingTimeInterval(60)
            while found == nil && Date() < deadline && job.isRunning {
                found = scenario.completedCheckpoints().first { $0 > before && Self.holdsRecordsInFlight(scenario, checkpoint: $0) }
                if found == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            guard let checkpoint = found else { break }
            unalignedCheckpoints.append(checkpoint)
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.3, using: &random))
            #expect(job.isRunning, "the job exited on its own: \(job.outputLines.suffix(10))")
            job.kill()
            kills += 1
            job = try scenario.startJob(extraArguments: Self.arguments)
            if job.waitForLine(timeout: 30, where: { $0.contains("in-flight records of the restored unaligned checkpoint") }) != nil {
                replays += 1
            }
        }
        print("unaligned checkpoints with records in flight: \(unalignedCheckpoints); SIGKILLs: \(kills); restarts that replayed them: \(replays)")
        #expect(kills == 3, "only \(kills) checkpoint(s) with records in flight were seen while the job was backpressured: \(job.outputLines.suffix(10))")
        #expect(replays >= 1, "no restart replayed records in flight, so this run tested no replay")
        let verdict = try scenario.waitForExactOutput(windows: windows, timeout: 150)
        #expect(verdict.isExact, "\(verdict)")
        job.terminate(timeout: 10)
        let final = try scenario.verdict(windows: windows)
        #expect(final.isExact, "after stopping: \(final)")
    }

    /// Whether checkpoint `checkpoint` stored records in flight (a `*-in-flight.state` file).
    static func holdsRecordsInFlight(_ scenario: ClickCountScenario, checkpoint: Int64) -> Bool {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.checkpointDirectory)/chk-\(checkpoint)")) ?? []
        return files.contains { $0.contains("in-flight") }
    }
}
