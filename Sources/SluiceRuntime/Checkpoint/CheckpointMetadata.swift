/// Where one piece of operator-subtask state lives in a checkpoint.
package struct StateHandle: Sendable, Equatable {
    /// File name inside the checkpoint's folder (or a key of the in-memory storage).
    package let location: String
    package let offset: UInt64
    package let length: UInt64
    /// CRC-32 of the bytes, verified on restore.
    package let checksum: UInt32

    package init(location: String, offset: UInt64, length: UInt64, checksum: UInt32) {
        self.location = location
        self.offset = offset
        self.length = length
        self.checksum = checksum
    }
}

/// Where a state file lives: in the checkpoint directory's `shared/` folder (referenced by later
/// incremental checkpoints too, deleted when no retained checkpoint references it), or inside the
/// snapshot's own folder (savepoints: self-contained).
package enum StateFileScope: UInt8, Sendable, Equatable {
    case shared = 0
    case exclusive = 1
}

/// A whole file of keyed state (a database copy or a change log) that a checkpoint references.
package struct StateFileHandle: Sendable, Equatable, Hashable {
    /// File name: in `shared/` for `.shared`, in the snapshot's `files/` folder for `.exclusive`.
    /// Shared names start with the id of the checkpoint that wrote them (`<id>-...`).
    package let name: String
    package let scope: StateFileScope
    package let length: UInt64
    /// CRC-32 of the whole file, verified before the file is used.
    package let checksum: UInt32

    package init(name: String, scope: StateFileScope, length: UInt64, checksum: UInt32) {
        self.name = name
        self.scope = scope
        self.length = length
        self.checksum = checksum
    }
}

/// The state one operator subtask acknowledged for a checkpoint.
package struct OperatorSubtaskStateHandle: Sendable, Equatable {
    package let subtaskIndex: Int
    package let operatorState: StateHandle?
    package let keyedState: StateHandle?
    /// The key groups `keyedState` covers.
    package let keyGroupRange: KeyGroupRange?
    /// Files the keyed state references (on-disk backend): what retention counts references of.
    package let stateFiles: [StateFileHandle]
    /// Unaligned checkpoints, on a task's head operator: the records that were in flight into the
    /// task (before the barrier, not yet in its state). Replayed first on restore.
    package var inputChannelState: StateHandle?

    package init(
        subtaskIndex: Int, operatorState: StateHandle?, keyedState: StateHandle?, keyGroupRange: KeyGroupRange?,
        stateFiles: [StateFileHandle] = [], inputChannelState: StateHandle? = nil
    ) {
        self.subtaskIndex = subtaskIndex
        self.operatorState = operatorState
        self.keyedState = keyedState
        self.keyGroupRange = keyGroupRange
        self.stateFiles = stateFiles
        self.inputChannelState = inputChannelState
    }

    /// Every state blob this subtask references (not the state files).
    package var stateHandles: [StateHandle] { [operatorState, keyedState, inputChannelState].compactMap { $0 } }
}

/// The state of all subtasks of one operator in a checkpoint.
package struct OperatorCheckpointState: Sendable, Equatable {
    package let operatorID: String
    package let parallelism: Int
    package let maxParallelism: Int
    package var subtasks: [OperatorSubtaskStateHandle]
}

/// What a snapshot is: a checkpoint (owned by the runtime, deleted by retention) or a savepoint
/// (owned by the user: self-contained in its own folder, never deleted by the runtime).
package enum SnapshotKind: UInt8, Sendable, Equatable {
    case checkpoint = 0
    case savepoint = 1
}

/// The `_metadata` file of a completed checkpoint or savepoint. Written last and atomically: its presence and
/// valid checksum is what makes a checkpoint complete.
package struct CheckpointMetadata: Sendable, Equatable {
    /// The format this code writes. Version 2 added the snapshot kind, version 3 the state files
    /// each subtask references (on-disk backend, incremental checkpoints), version 4 the owner (job
    /// id and transactional-id prefix), version 5 the owner's worker layout (worker i of N; before
    /// it, one process), version 6 the input channel state of unaligned checkpoints.
    package static let formatVersion: UInt32 = 6
    /// Versions this code reads; any other is refused.
    package static let readableVersions: Set<UInt32> = [1, 2, 3, 4, 5, 6]
    static let magic: [UInt8] = Array("SLCKPT01".utf8)

    package let checkpointId: Int64
    package let timestamp: Int64
    package let isFinal: Bool
    package let kind: SnapshotKind
    package let operators: [OperatorCheckpointState]
    /// The job that wrote it; nil: unknown (written before format version 4).
    package let owner: CheckpointOwner?

    package init(
        checkpointId: Int64, timestamp: Int64, isFinal: Bool, kind: SnapshotKind = .checkpoint, operators: [OperatorCheckpointState],
        owner: CheckpointOwner? = nil
    ) {
        self.checkpointId = checkpointId
        self.timestamp = timestamp
        self.isFinal = isFinal
        self.kind = kind
        self.operators = operators
        self.owner = owner
    }

    package func operatorState(_ id: String) -> OperatorCheckpointState? {
        operators.first { $0.operatorID == id }
    }

    /// Bytes of state this snapshot needs, state files included (also those shared with older checkpoints).
    package var totalStateBytes: UInt64 {
        operators.reduce(0) { sum, op in
            sum + op.subtasks.reduce(0) {
                $0 + $1.stateHandles.reduce(0) { $0 + $1.length } + $1.stateFiles.reduce(0) { $0 + $1.length }
            }
        }
    }

    /// Bytes this snapshot wrote itself: its state blobs and the state files it created (an
    /// incremental checkpoint reuses older shared files without writing them again).
    package var writtenStateBytes: UInt64 {
        operators.reduce(0) { sum, op in
            sum + op.subtasks.reduce(0) { total, subtask in
                total + subtask.stateHandles.reduce(0) { $0 + $1.length }
                    + subtask.stateFiles.filter { $0.scope == .exclusive || StateFiles.creatorCheckpoint(of: $0.name) == checkpointId }
                        .reduce(0) { $0 + $1.length }
            }
        }
    }

    /// Every state file this snapshot references.
    package var stateFiles: Set<StateFileHandle> {
        Set(operators.flatMap { $0.subtasks.flatMap(\.stateFiles) })
    }

    /// magic(8) | version u32 | payload length u64 | payload | CRC-32 of everything before it.
    /// `version` below the current one is for tests of older files (it leaves out what it lacked).
    package func encoded(version: UInt32 = formatVersion) -> [UInt8] {
        var payload = BinaryWriter(capacity: 1024)
        payload.writeInt64(checkpointId)
        payload.writeInt64(timestamp)
        payload.writeBool(isFinal)
        payload.writeUInt8(kind.rawValue)
        payload.writeVarUInt(UInt64(operators.count))
        for op in operators {
            payload.writeString(op.operatorID)
            payload.writeVarInt(op.parallelism)
            payload.writeVarInt(op.maxParallelism)
            payload.writeVarUInt(UInt64(op.subtasks.count))
            for subtask in op.subtasks {
                payload.writeVarInt(subtask.subtaskIndex)
                Self.write(subtask.operatorState, to: &payload)
                Self.write(subtask.keyedState, to: &payload)
                if let range = subtask.keyGroupRange {
                    payload.writeBool(true)
                    payload.writeVarInt(range.start)
                    payload.writeVarInt(range.end)
                } else {
                    payload.writeBool(false)
                }
                payload.writeVarUInt(UInt64(subtask.stateFiles.count))
                for file in subtask.stateFiles {
                    payload.writeString(file.name)
                    payload.writeUInt8(file.scope.rawValue)
                    payload.writeUInt64(file.length)
                    payload.writeUInt32(file.checksum)
                }
                if version >= 6 { Self.write(subtask.inputChannelState, to: &payload) }
            }
        }
        if version >= 4 {
            payload.writeBool(owner != nil)
            if let owner {
                payload.writeString(owner.jobId)
                payload.writeBool(owner.transactionalIdPrefix != nil)
                if let prefix = owner.transactionalIdPrefix { payload.writeString(prefix) }
                if version >= 5 {
                    payload.writeVarInt(owner.workers.workers)
                    payload.writeVarInt(owner.workers.index)
                }
            }
        }
        var file = BinaryWriter(capacity: payload.count + 32)
        file.writeRaw(Self.magic)
        file.writeUInt32(version)
        file.writeUInt64(UInt64(payload.count))
        file.writeRaw(payload.bytes)
        file.writeUInt32(CRC32.checksum(file.bytes))
        return file.bytes
    }

    private static func write(_ handle: StateHandle?, to writer: inout BinaryWriter) {
        guard let handle else {
            writer.writeBool(false)
            return
        }
        writer.writeBool(true)
        writer.writeString(handle.location)
        writer.writeUInt64(handle.offset)
        writer.writeUInt64(handle.length)
        writer.writeUInt32(handle.checksum)
    }

    private static func readHandle(_ reader: inout BinaryReader) throws -> StateHandle? {
        guard try reader.readBool() else { return nil }
        return StateHandle(
            location: try reader.readString(), offset: try reader.readUInt64(),
            length: try reader.readUInt64(), checksum: try reader.readUInt32())
    }

    /// Parses and verifies a metadata file; refuses unknown versions, bad checksums and truncation.
    package static func decode(_ bytes: [UInt8]) throws -> CheckpointMetadata {
        let headerSize = magic.count + 4 + 8
        guard bytes.count <= maxFileBytes else { throw CheckpointMetadataError.malformed("a metadata file over \(maxFileBytes) bytes") }
        guard bytes.count >= headerSize + 4 else {
            throw CheckpointMetadataError.truncated(size: bytes.count)
        }
        guard Array(bytes[0..<magic.count]) == magic else { throw CheckpointMetadataError.notMetadata }
        var header = BinaryReader(bytes, range: magic.count..<headerSize)
        let version = try header.readUInt32()
        guard readableVersions.contains(version) else {
            throw CheckpointMetadataError.unsupportedVersion(found: version, supported: formatVersion)
        }
        let length = try header.readUInt64()
        guard length <= UInt64(bytes.count), UInt64(headerSize) + length + 4 == UInt64(bytes.count) else {
            throw CheckpointMetadataError.truncated(size: bytes.count)
        }
        let payloadEnd = headerSize + Int(length)
        var trailer = BinaryReader(bytes, range: payloadEnd..<bytes.count)
        let stored = try trailer.readUInt32()
        let computed = CRC32.checksum(bytes[0..<payloadEnd])
        guard stored == computed else { throw CheckpointMetadataError.checksumMismatch(stored: stored, computed: computed) }

        var reader = BinaryReader(bytes, range: headerSize..<payloadEnd)
        do {
            let id = try reader.readInt64()
            let timestamp = try reader.readInt64()
            let isFinal = try reader.readBool()
            var kind = SnapshotKind.checkpoint
            if version >= 2 {
                let raw = try reader.readUInt8()
                guard let known = SnapshotKind(rawValue: raw) else {
                    throw CheckpointMetadataError.malformed("unknown snapshot kind \(raw)")
                }
                kind = known
            }
            let count = try reader.readVarInt()
            var operators: [OperatorCheckpointState] = []
            for _ in 0..<count {
                let uid = try reader.readString()
                let parallelism = try reader.readVarInt()
                let maxParallelism = try reader.readVarInt()
                let n = try reader.readVarInt()
                var subtasks: [OperatorSubtaskStateHandle] = []
                for _ in 0..<n {
                    let index = try reader.readVarInt()
                    let opState = try readHandle(&reader)
                    let keyed = try readHandle(&reader)
                    var range: KeyGroupRange?
                    if try reader.readBool() {
                        range = KeyGroupRange(start: try reader.readVarInt(), end: try reader.readVarInt())
                    }
                    var files: [StateFileHandle] = []
                    if version >= 3 {
                        let fileCount = try reader.readVarInt()
                        for _ in 0..<fileCount {
                            let name = try reader.readString()
                            let rawScope = try reader.readUInt8()
                            guard let scope = StateFileScope(rawValue: rawScope) else {
                                throw CheckpointMetadataError.malformed("unknown state file scope \(rawScope)")
                            }
                            files.append(StateFileHandle(
                                name: name, scope: scope, length: try reader.readUInt64(), checksum: try reader.readUInt32()))
                        }
                    }
                    let channelState = version >= 6 ? try readHandle(&reader) : nil
                    subtasks.append(OperatorSubtaskStateHandle(
                        subtaskIndex: index, operatorState: opState, keyedState: keyed, keyGroupRange: range, stateFiles: files,
                        inputChannelState: channelState))
                }
                operators.append(OperatorCheckpointState(
                    operatorID: uid, parallelism: parallelism, maxParallelism: maxParallelism, subtasks: subtasks))
            }
            var owner: CheckpointOwner?
            if version >= 4, try reader.readBool() {
                let jobId = try reader.readString()
                let prefix = try reader.readBool() ? try reader.readString() : nil
                var workers = WorkerLayout.single
                if version >= 5 {
                    let count = try reader.readVarInt()
                    let index = try reader.readVarInt()
                    guard let layout = WorkerLayout(workers: count, index: index) else {
                        throw CheckpointMetadataError.malformed("worker index \(index) of \(count) workers")
                    }
                    workers = layout
                }
                owner = CheckpointOwner(jobId: jobId, transactionalIdPrefix: prefix, workers: workers)
            }
            return try CheckpointMetadata(
                checkpointId: id, timestamp: timestamp, isFinal: isFinal, kind: kind, operators: operators, owner: owner).validated()
        } catch let error as StateSerializationError {
            throw CheckpointMetadataError.malformed(error.description)
        }
    }
}

/// Why a metadata file was refused.
public enum CheckpointMetadataError: Error, CustomStringConvertible, Equatable {
    case notMetadata
    case unsupportedVersion(found: UInt32, supported: UInt32)
    case truncated(size: Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case malformed(String)

    public var description: String {
        switch self {
        case .notMetadata:
            return "not a Sluice checkpoint metadata file (wrong magic bytes)"
        case .unsupportedVersion(let found, let supported):
            return "metadata format version \(found) is not supported by this build (it writes version \(supported) and reads versions 1...\(supported)); "
                + "restore with the Sluice version that wrote it, or start without this checkpoint"
        case .truncated(let size):
            return "metadata file is truncated or has trailing bytes (\(size) bytes)"
        case .checksumMismatch(let stored, let computed):
            return "metadata checksum mismatch (stored \(String(stored, radix: 16)), computed \(String(computed, radix: 16)))"
        case .malformed(let why):
            return "metadata payload is malformed: \(why)"
        }
    }
}
