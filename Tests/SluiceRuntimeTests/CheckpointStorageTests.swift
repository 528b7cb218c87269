import Foundation
import Logging
import Testing
@testable import SluiceRuntime

@Suite struct CheckpointStorageTests {
    func metadata(_ id: Int64, location: String = "a.state") -> CheckpointMetadata {
        CheckpointMetadata(checkpointId: id, timestamp: 1234, isFinal: false, operators: [
            OperatorCheckpointState(operatorID: "count", parallelism: 1, maxParallelism: 128, subtasks: [
                OperatorSubtaskStateHandle(
                    subtaskIndex: 0, operatorState: StateHandle(location: location, offset: 0, length: 3, checksum: CRC32.checksum([1, 2, 3])),
                    keyedState: nil, keyGroupRange: KeyGroupRange(start: 0, end: 127)),
            ]),
        ])
    }

    @Test func metadataRoundTripsAndDetectsDamage() throws {
        let bytes = metadata(7).encoded()
        #expect(try CheckpointMetadata.decode(bytes) == metadata(7))

        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(throws: CheckpointMetadataError.self) { try CheckpointMetadata.decode(flipped) }
        do {
            _ = try CheckpointMetadata.decode(flipped)
        } catch let error as CheckpointMetadataError {
            guard case .checksumMismatch = error else {
                Issue.record("expected checksum mismatch, got \(error)")
                return
            }
        }
        #expect(throws: CheckpointMetadataError.truncated(size: bytes.count - 5)) {
            try CheckpointMetadata.decode(Array(bytes.dropLast(5)))
        }
    }

    @Test func unknownVersionIsRefusedWithClearError() throws {
        var bytes = metadata(1).encoded()
        bytes[8] = 99  // version field follows the 8 magic bytes
        do {
            _ = try CheckpointMetadata.decode(bytes)
            Issue.record("an unknown version was accepted")
        } catch let error as CheckpointMetadataError {
            #expect(error == .unsupportedVersion(found: 99, supported: CheckpointMetadata.formatVersion))
            #expect(error.description.contains("version 99 is not supported"))
        }
    }

    @Test func crcMatchesReferenceVector() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    func writeCheckpoint(_ storage: FileSystemCheckpointStorage, _ id: Int64) throws {
        let handles = try storage.writeState(checkpointId: id, name: "count-0", blobs: [[1, 2, 3]])
        let handle = try #require(handles[0])
        try storage.commit(CheckpointMetadata(checkpointId: id, timestamp: 0, isFinal: false, operators: [
            OperatorCheckpointState(operatorID: "count", parallelism: 1, maxParallelism: 128, subtasks: [
                OperatorSubtaskStateHandle(subtaskIndex: 0, operatorState: handle, keyedState: nil, keyGroupRange: nil),
            ]),
        ]))
    }

    @Test func metadataIsWrittenAtomicallyAndStateVerified() throws {
        let dir = temporaryDirectory()
        let storage = FileSystemCheckpointStorage(directory: dir)
        try writeCheckpoint(storage, 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/chk-1").sorted()
        #expect(files == ["_metadata", "_metadata.copy", "count-0.state"])
        let restored = try #require(storage.latestCompleted(logger: Logger(label: "t")))
        let handle = try #require(restored.operators[0].subtasks[0].operatorState)
        #expect(try storage.read(handle, checkpointId: 1) == [1, 2, 3])
        // A checkpoint whose metadata was never written is not complete.
        _ = try storage.writeState(checkpointId: 2, name: "count-0", blobs: [[9]])
        #expect(storage.latestCompleted(logger: Logger(label: "t"))?.checkpointId == 1)
        // Damaged state is refused on read.
        let statePath = "\(dir)/chk-1/count-0.state"
        try Data([1, 2, 4]).write(to: URL(fileURLWithPath: statePath))
        #expect(throws: CheckpointStorageError.self) { try storage.read(handle, checkpointId: 1) }
    }

    /// A damaged `_metadata` is read from its copy: the newest checkpoint is restored itself, not an
    /// older one that would repeat what the newest one's transactions committed (issue 13, point 6).
    @Test func damagedNewestMetadataIsReadFromItsCopy() throws {
        let dir = temporaryDirectory()
        let storage = FileSystemCheckpointStorage(directory: dir)
        try writeCheckpoint(storage, 4)
        try writeCheckpoint(storage, 5)
        let path = storage.metadataPath(5)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[20] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(storage.latestCompleted(logger: Logger(label: "t"))?.checkpointId == 5)
        #expect(try storage.latestRestorable(logger: Logger(label: "t"))?.checkpointId == 5)
        // Truncated and unknown-version files too.
        try Data(bytes.prefix(10)).write(to: URL(fileURLWithPath: path))
        #expect(try storage.loadMetadata(5).checkpointId == 5)
    }

    /// With `_metadata` and its copy both unreadable nothing proves the newest checkpoint committed
    /// nothing: the restore fails naming it and the choices instead of falling back.
    @Test func unreadableNewestCheckpointIsRefusedNotSkipped() throws {
        let dir = temporaryDirectory()
        let storage = FileSystemCheckpointStorage(directory: dir)
        try writeCheckpoint(storage, 4)
        try writeCheckpoint(storage, 5)
        for name in [FileSystemCheckpointStorage.metadataName, FileSystemCheckpointStorage.metadataCopyName] {
            let path = "\(dir)/chk-5/\(name)"
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[20] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        #expect(throws: CheckpointStorageError.self) { try storage.loadMetadata(5) }
        do {
            _ = try storage.latestRestorable(logger: Logger(label: "t"))
            Issue.record("an unreadable newest checkpoint was skipped")
        } catch let error as CheckpointStorageError {
            guard case .newestCheckpointUnusable(let id, _, _, let older) = error else {
                Issue.record("expected newestCheckpointUnusable, got \(error)")
                return
            }
            #expect(id == 5)
            #expect(older == "\(dir)/chk-4")
            #expect(error.description.contains("--from-savepoint \(dir)/chk-4"))
        }
        // Listing (not restoring) still sees the older one.
        #expect(storage.latestCompleted(logger: Logger(label: "t"))?.checkpointId == 4)
    }

    @Test func retainsTheLatestThree() throws {
        let dir = temporaryDirectory()
        let storage = FileSystemCheckpointStorage(directory: dir)
        for id in Int64(1)...5 {
            try writeCheckpoint(storage, id)
            storage.retainLatest(3, logger: Logger(label: "t"))
        }
        #expect(storage.checkpointIDs() == [3, 4, 5])
        storage.removeNewer(than: 4, logger: Logger(label: "t"))
        #expect(storage.checkpointIDs() == [3, 4])
    }
}
