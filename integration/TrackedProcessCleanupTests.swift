import Foundation
import SluiceTestKit
import Testing

/// scripts/test.sh's cleanup ends what its own run started, and nothing else: not a second run's
/// broker, not a user's own Tansu whose command line looks just like the tests' ones.
@Suite struct TrackedProcessCleanupTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    /// A process whose command line reads like the tests' embedded broker.
    func lookalikeBroker() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "exec -a \"\(Self.root)/.tools/tansu/bin/tansu broker\" sleep 120"]
        try process.run()
        for _ in 0..<200 {
            if let line = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/cmdline", encoding: .utf8), line.contains("tansu broker") { break }
            usleep(10_000)
        }
        return process
    }

    func waitForExit(_ process: Process) -> Bool {
        for _ in 0..<500 where process.isRunning { usleep(10_000) }
        return !process.isRunning
    }

    @Test func cleanupEndsOnlyTheRunsOwnProcesses() throws {
        let script = try String(contentsOfFile: Self.root + "/scripts/test.sh", encoding: .utf8)
        #expect(!script.contains("pkill") && !script.contains("killall"), "scripts/test.sh kills by name")

        let thisRun = FileManager.default.temporaryDirectory.appendingPathComponent("pids-a-\(UUID().uuidString)").path
        let otherRun = FileManager.default.temporaryDirectory.appendingPathComponent("pids-b-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: thisRun, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: otherRun, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: otherRun) }

        let ours = try lookalikeBroker()
        let theirs = try lookalikeBroker()
        let users = try lookalikeBroker()
        defer { for process in [ours, theirs, users] where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        TrackedProcesses.record(ours.processIdentifier, in: thisRun)
        TrackedProcesses.record(theirs.processIdentifier, in: otherRun)
        // A stale record: the user's pid with another start time, as after the pid was reused.
        try "1".write(toFile: thisRun + "/\(users.processIdentifier)", atomically: true, encoding: .utf8)

        // test.sh's cleanup is exactly this script run on the run's folder.
        #expect(script.contains("kill-tracked.sh\" \"$SLUICE_TEST_PID_DIR\""))
        let cleanup = Process()
        cleanup.executableURL = URL(fileURLWithPath: "/bin/bash")
        cleanup.arguments = [Self.root + "/scripts/kill-tracked.sh", thisRun]
        try cleanup.run()
        cleanup.waitUntilExit()

        #expect(waitForExit(ours), "the run's own process survived its cleanup")
        usleep(200_000)
        #expect(theirs.isRunning, "a second run's broker was killed")
        #expect(users.isRunning, "a user's own broker was killed")
        #expect(!FileManager.default.fileExists(atPath: thisRun))
    }
}
