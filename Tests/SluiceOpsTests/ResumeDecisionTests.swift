import Foundation
import SluiceRuntime
import Testing
@testable import SluiceOps

/// A job restarted with the same "resume from savepoint" command line must not go back to the
/// savepoint once it has checkpointed past it.
@Suite struct ResumeDecisionTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-resume-\(UUID().uuidString.prefix(8))").path

    @Test func resumesFromTheSavepointOnceThenFromNewerCheckpoints() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkpoints = root + "/checkpoints"
        let savepoint = checkpoints + "/savepoints/savepoint-9-1700000009000"
        let storage = FileSystemCheckpointStorage(directory: checkpoints)
        // A checkpoint from before the stop must not count.
        try storage.commit(CheckpointMetadata(checkpointId: 8, timestamp: 1_700_000_008_000, isFinal: false, operators: []))

        #expect(try ResumeDecision.decide(savepoint: savepoint + "/", checkpointDirectory: checkpoints, force: false, nowMillis: 1_700_000_100_000)
                == .savepoint(savepoint + "/"))
        // Restarted before any new checkpoint: the savepoint again.
        #expect(try ResumeDecision.decide(savepoint: savepoint, checkpointDirectory: checkpoints, force: false, nowMillis: 1_700_000_101_000)
                == .savepoint(savepoint))
        // A checkpoint completed after the resume: restarts use it.
        try storage.commit(CheckpointMetadata(checkpointId: 10, timestamp: 1_700_000_102_000, isFinal: false, operators: []))
        #expect(try ResumeDecision.decide(savepoint: savepoint + "/_metadata", checkpointDirectory: checkpoints, force: false, nowMillis: 1_700_000_103_000)
                == .newerCheckpoint(id: 10, savepoint: savepoint))
        // Forced, or another savepoint: the savepoint named.
        #expect(try ResumeDecision.decide(savepoint: savepoint, checkpointDirectory: checkpoints, force: true, nowMillis: 1_700_000_104_000)
                == .savepoint(savepoint))
        let other = checkpoints + "/savepoints/savepoint-12-1700000200000"
        #expect(try ResumeDecision.decide(savepoint: other, checkpointDirectory: checkpoints, force: false, nowMillis: 1_700_000_200_000)
                == .savepoint(other))
    }
}
