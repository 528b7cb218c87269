import Foundation
import SluiceTestKit
import Testing
@testable import SluiceRuntime

/// A tampered `_metadata` (checksum recomputed, as anyone who can write the folder can do) must end
/// in a typed error: never a trap, an unbounded allocation, or a path outside the checkpoint folder.
@Suite struct CheckpointMetadataFuzzTests {
    static func metadata(fileName: String = "3-op-0-db.sqlite", location: String = "op_1.state",
                         offset: UInt64 = 0, length: UInt64 = 10) -> CheckpointMetadata {
        let subtask = OperatorSubtaskStateHandle(
            subtaskIndex: 1, operatorState: StateHandle(location: location, offset: offset, length: length, checksum: 7),
            keyedState: StateHandle(location: "op_1.state", offset: 10, length: 20, checksum: 9),
            keyGroupRange: KeyGroupRange(start: 64, end: 127),
            stateFiles: [StateFileHandle(name: fileName, scope: .shared, length: 4096, checksum: 1),
                         StateFileHandle(name: "3-op-0-log.1", scope: .exclusive, length: 100, checksum: 2)])
        return CheckpointMetadata(checkpointId: 3, timestamp: 1_700_000_000_000, isFinal: false, kind: .checkpoint, operators: [
            OperatorCheckpointState(operatorID: "op", parallelism: 2, maxParallelism: 128, subtasks: [subtask]),
            OperatorCheckpointState(operatorID: "source", parallelism: 1, maxParallelism: 128, subtasks: []),
        ])
    }

    /// `payload` sealed as a metadata file: header with its length, and a valid checksum.
    static func seal(_ payload: ArraySlice<UInt8>) -> [UInt8] {
        var file = BinaryWriter(capacity: payload.count + 24)
        file.writeRaw(CheckpointMetadata.magic)
        file.writeUInt32(CheckpointMetadata.formatVersion)
        file.writeUInt64(UInt64(payload.count))
        file.writeRaw(Array(payload))
        file.writeUInt32(CRC32.checksum(file.bytes))
        return file.bytes
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func mutatedMetadataEndsInATypedError(seed: UInt64) throws {
        let valid = Self.metadata().encoded()
        let payload = valid[20..<(valid.count - 4)]
        #expect(Self.seal(payload) == valid)
        var mutator = SeededMutator(seed: seed)
        var decoded = 0
        var refused = 0
        for index in 0..<2000 {
            // Half the cases keep a valid checksum, so mutations reach the payload's parser.
            let input = index % 2 == 0 ? mutator.mutate(valid) : Self.seal(mutator.mutate(Array(payload))[...])
            do {
                let metadata = try CheckpointMetadata.decode(input)
                decoded += 1
                for file in metadata.stateFiles { #expect(StateFileName.isPlain(file.name), "decoded a path: \(file.name)") }
            } catch is CheckpointMetadataError {
                refused += 1
            }
        }
        #expect(refused > 1000 && decoded + refused == 2000)
    }

    @Test func namesThatLeaveTheFolderAreRefused() throws {
        for hostile in ["../../etc/passwd", "/etc/passwd", "..", ".", "", "shared/../../x", "a\0b"] {
            #expect(throws: CheckpointMetadataError.self, "state file \(hostile) was accepted") {
                _ = try CheckpointMetadata.decode(Self.metadata(fileName: hostile).encoded())
            }
            #expect(throws: CheckpointMetadataError.self, "state location \(hostile) was accepted") {
                _ = try CheckpointMetadata.decode(Self.metadata(location: hostile).encoded())
            }
        }
        #expect(try CheckpointMetadata.decode(Self.metadata().encoded()) == Self.metadata())
    }

    @Test func sizesThatWouldOverflowAreRefused() throws {
        for (offset, length) in [(UInt64.max, UInt64(1)), (1, .max), (UInt64(Int.max), UInt64(Int.max))] {
            #expect(throws: CheckpointMetadataError.self) {
                _ = try CheckpointMetadata.decode(Self.metadata(offset: offset, length: length).encoded())
            }
        }
    }

    @Test func aTamperedCheckpointReadsNothingOutsideItsFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tampered-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/checkpoints"
        try FileManager.default.createDirectory(atPath: directory + "/chk-3", withIntermediateDirectories: true)
        // A file outside the checkpoint directory, which the tampered metadata points at.
        try Data(repeating: 1, count: 30).write(to: URL(fileURLWithPath: root + "/outside.state"))
        try Data(Self.metadata(location: "../../outside.state").encoded()).write(to: URL(fileURLWithPath: directory + "/chk-3/_metadata"))
        let storage = FileSystemCheckpointStorage(directory: directory)
        #expect(throws: CheckpointStorageError.self) { _ = try storage.loadMetadata(3) }
        #expect(throws: CheckpointStorageError.self) { _ = try FileSystemCheckpointStorage.openSnapshot(at: directory + "/chk-3") }
        #expect(FileManager.default.fileExists(atPath: root + "/outside.state"))
    }
}
