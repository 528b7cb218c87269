import Foundation
import SluiceRuntime
import Testing
@testable import SluiceOps

/// `sluice checkpoints` lists what the runtime would restore: complete checkpoints and savepoints
/// are valid, a folder without `_metadata` or with damaged metadata is not, and sizes and times come
/// from disk and metadata.
@Suite struct SnapshotCatalogTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-catalog-\(UUID().uuidString.prefix(8))").path

    func writeCheckpoint(_ id: Int64, timestamp: Int64, stateBytes: Int) throws {
        let storage = FileSystemCheckpointStorage(directory: root)
        _ = try storage.writeState(checkpointId: id, name: "source-0", blobs: [Array(repeating: 7, count: stateBytes)])
        try storage.commit(CheckpointMetadata(checkpointId: id, timestamp: timestamp, isFinal: false, operators: []))
    }

    @Test func listsCheckpointsAndSavepointsWithSizeTimeAndValidity() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeCheckpoint(3, timestamp: 1_700_000_003_000, stateBytes: 1000)
        try writeCheckpoint(4, timestamp: 1_700_000_004_000, stateBytes: 2000)
        // Checkpoint 5 never completed: state written, no metadata.
        _ = try FileSystemCheckpointStorage(directory: root).writeState(checkpointId: 5, name: "source-0", blobs: [[1, 2, 3]])
        // Checkpoint 4's metadata is damaged after the fact.
        let damaged = root + "/chk-4/_metadata"
        var bytes = try #require(FileManager.default.contents(atPath: damaged))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: damaged))
        // A savepoint in the savepoints/ subfolder.
        let savepoint = root + "/savepoints/savepoint-9-1700000009000"
        try FileManager.default.createDirectory(atPath: savepoint, withIntermediateDirectories: true)
        let savepointMetadata = CheckpointMetadata(checkpointId: 9, timestamp: 1_700_000_009_000, isFinal: false, kind: .savepoint, operators: [])
        try Data(savepointMetadata.encoded()).write(to: URL(fileURLWithPath: savepoint + "/_metadata"))

        let entries = try SnapshotCatalog.list(root)
        let byId = Dictionary(entries.map { ($0.id ?? -1, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(entries.count == 4)
        let three = try #require(byId[3])
        #expect(three.kind == .checkpoint)
        #expect(three.isValid)
        #expect(three.timeMillis == 1_700_000_003_000)
        #expect(three.bytesOnDisk >= 1000)
        #expect(three.bytesOnDisk < 2000)
        let four = try #require(byId[4])
        #expect(!four.isValid)
        #expect(four.bytesOnDisk >= 2000)
        let five = try #require(byId[5])
        #expect(five.problem == "incomplete: no _metadata")
        let nine = try #require(byId[9])
        #expect(nine.kind == .savepoint)
        #expect(nine.isValid)
        #expect(nine.path == savepoint)
        // A savepoint folder given directly is listed alone.
        #expect(try SnapshotCatalog.list(savepoint).map(\.id) == [9])
    }

    /// A job run as several workers keeps each worker's snapshots in `worker-<i>`: the job's folder
    /// lists them all, each with the worker that wrote it.
    @Test func listsEveryWorkersSnapshotsWithTheirWorker() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        for index in 0..<2 {
            let storage = FileSystemCheckpointStorage(directory: root + "/worker-\(index)")
            let owner = CheckpointOwner(jobId: "job", transactionalIdPrefix: "p-w\(index)", workers: try #require(WorkerLayout(workers: 2, index: index)))
            try storage.commit(CheckpointMetadata(
                checkpointId: Int64(10 + index), timestamp: 1_700_000_000_000 + Int64(index), isFinal: false, operators: [], owner: owner))
        }
        let savepoint = root + "/worker-1/savepoints/savepoint-12-1700000000002"
        try FileManager.default.createDirectory(atPath: savepoint, withIntermediateDirectories: true)
        let owner = CheckpointOwner(jobId: "job", transactionalIdPrefix: "p-w1", workers: try #require(WorkerLayout(workers: 2, index: 1)))
        let metadata = CheckpointMetadata(checkpointId: 12, timestamp: 1_700_000_000_002, isFinal: false, kind: .savepoint, operators: [], owner: owner)
        try Data(metadata.encoded()).write(to: URL(fileURLWithPath: savepoint + "/_metadata"))
        // Not a worker's folder: left out.
        try FileManager.default.createDirectory(atPath: root + "/worker-x/chk-1", withIntermediateDirectories: true)

        let entries = try SnapshotCatalog.list(root)
        #expect(entries.map(\.id) == [10, 11, 12])
        #expect(entries.map { $0.worker?.index } == [0, 1, 1])
        #expect(entries.allSatisfy { $0.worker?.workers == 2 && $0.isValid })
        #expect(entries.last?.kind == .savepoint)
    }

    @Test func refusesSomethingThatIsNotAFolder() {
        #expect(throws: SnapshotCatalogError.self) { _ = try SnapshotCatalog.list(root + "/missing") }
    }
}
