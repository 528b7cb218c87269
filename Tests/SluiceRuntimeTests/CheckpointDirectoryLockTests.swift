import Foundation
import Testing
@testable import SluiceRuntime

@Suite struct CheckpointDirectoryLockTests {
    func scratch() -> String {
        NSTemporaryDirectory() + "sluice-lock-\(UUID().uuidString)"
    }

    @Test func aSecondClaimIsRefusedNamingTheHolder() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try CheckpointDirectoryLock.acquire(directory: directory)
        defer { first.release() }
        // flock belongs to an open file description, so a second open in this process conflicts as a
        // second process would.
        #expect(throws: CheckpointDirectoryLockError.held(directory: directory, by: first.holder)) {
            try CheckpointDirectoryLock.acquire(directory: directory)
        }
        do {
            _ = try CheckpointDirectoryLock.acquire(directory: directory)
        } catch {
            #expect(error.description.contains("pid \(getpid())"))
            #expect(error.description.contains("in use by another job"))
        }
    }

    @Test func aReleasedDirectoryCanBeClaimedAgain() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try CheckpointDirectoryLock.acquire(directory: directory).release()
        let again = try CheckpointDirectoryLock.acquire(directory: directory)
        again.release()
    }

    @Test func anUnwritablePlaceIsReportedAsSuch() throws {
        #expect(throws: CheckpointDirectoryLockError.self) {
            try CheckpointDirectoryLock.acquire(directory: "/proc/sluice-cannot-be-here")
        }
    }
}
