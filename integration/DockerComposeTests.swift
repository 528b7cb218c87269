import Foundation
import SluiceTestKit
import Testing

/// docker-compose.yml is for users with a Docker engine; none runs here, so the file is checked with
/// docker-compose's own parser (`config`), which needs no engine.
@Suite struct DockerComposeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    func compose(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ProjectTool.run("compose-venv/bin/docker-compose", arguments, in: Self.root)
    }

    @Test func theComposeFileIsValidAndHasThePlaygroundsParts() throws {
        let (status, output) = try compose(["-f", Self.root + "/docker-compose.yml", "config"])
        #expect(status == 0, "docker-compose config failed:\n\(output)")
        for service in ["kafka:", "topics:", "generator:", "job:", "client:"] {
            #expect(output.contains("  \(service)"), "no service \(service)")
        }
        #expect(output.contains("KAFKA_PROCESS_ROLES: broker,controller"), "Kafka must run in KRaft mode")
        #expect(output.contains("--partitions 2"), "topics need 2 partitions")
        #expect(output.contains("restart: unless-stopped"), "the generator keeps running")
        #expect(output.contains("restart: on-failure"), "the job restarts after a crash, not after sluice stop")
        #expect(output.contains("--status-port"), "the job serves status for `sluice status` in the client")
        #expect(output.contains("SLUICE_STATUS_URL: http://job:8081"))
        // The status server is published on the host's loopback only, and its write routes need the
        // token the job writes to the shared volume and the client reads from it.
        let published = output.split(separator: "\n").filter { $0.contains(":8081:8081") }
        #expect(!published.isEmpty && published.allSatisfy { $0.contains("127.0.0.1:8081:8081") }, "published: \(published)")
        #expect(output.contains("--status-token-file") && output.contains("SLUICE_STATUS_TOKEN_FILE: /checkpoints/status-token"))
        #expect(output.contains("/checkpoints"), "the job needs a volume for checkpoints")
        #expect(FileManager.default.fileExists(atPath: Self.root + "/Dockerfile"))
    }

    /// Profile `workers`: three pass-through workers, each with its own index and checkpoint volume.
    @Test func theWorkersProfileHasThreeWorkers() throws {
        let (status, output) = try compose(["-f", Self.root + "/docker-compose.yml", "--profile", "workers", "config"])
        #expect(status == 0, "docker-compose config failed:\n\(output)")
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for index in 0..<3 {
            #expect(output.contains("  worker-\(index):"), "no service worker-\(index)")
            #expect(output.contains("worker-\(index):/checkpoints"), "worker-\(index) needs its own checkpoint volume")
        }
        // Each worker is told the same count and its own index (docker-compose config lists every
        // profile's services: these three and the click-count workers').
        let indices = lines.indices.filter { lines[$0] == "- --worker-index" }.compactMap { lines.indices.contains($0 + 1) ? lines[$0 + 1] : nil }
        #expect(indices.sorted() == ["- '0'", "- '0'", "- '1'", "- '1'", "- '2'", "- '2'"], "\(indices)")
        #expect(lines.filter { $0 == "- --workers" }.count == 6)
        #expect(lines.filter { $0 == "- pass-through-job" }.count == 3)
        // Only with --profile workers: the three workers and their topic set-up belong to the profile.
        #expect(lines.filter { $0 == "- workers" }.count == 4, "the workers and workers-topics must be in profile workers")
    }

    /// Profile `click-count-workers`: the keyed click-count job as three workers (issue 15).
    @Test func theClickCountWorkersProfileHasThreeKeyedWorkers() throws {
        let (status, output) = try compose(["-f", Self.root + "/docker-compose.yml", "--profile", "click-count-workers", "config"])
        #expect(status == 0, "docker-compose config failed:\n\(output)")
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for index in 0..<3 {
            #expect(output.contains("  click-count-worker-\(index):"), "no service click-count-worker-\(index)")
            #expect(output.contains("click-count-worker-\(index):/checkpoints"), "click-count-worker-\(index) needs its own checkpoint volume")
        }
        #expect(lines.filter { $0 == "- click-count-job" }.count == 3)
        #expect(lines.filter { $0 == "- --max-parallelism" }.count == 3)
        #expect(lines.filter { $0 == "- click-count-workers" }.count == 4)
    }

    @Test func theValidatorRejectsABrokenFile() throws {
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-compose-\(UUID().uuidString).yml")
        try "services:\n  job:\n    image: sluice\n    restart: sometimes-maybe\n    ports: 12\n".write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        let (status, output) = try compose(["-f", broken.path, "config", "-q"])
        #expect(status != 0, "a broken file passed: \(output)")
    }
}
