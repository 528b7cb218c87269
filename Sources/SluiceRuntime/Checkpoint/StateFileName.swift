import Foundation

/// What a `_metadata` file read from disk may name and claim. The file is checksummed, but a checksum
/// stops accidents, not tampering: anyone who can write the checkpoint directory can write a valid
/// one. So every name that becomes a path is a plain file name (no separator, no `..`, nothing
/// absolute), every size fits the arithmetic done with it, and the counts and indices are
/// consistent, before the job reads, verifies or deletes anything because of it.
enum StateFileName {
    /// Longer is not a name this runtime writes (and most file systems refuse it).
    static let maxBytes = 255

    /// True for a single file name: non-empty, no `/` or NUL, not `.` or `..`.
    static func isPlain(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxBytes && name != "." && name != ".."
            && !name.contains("/") && !name.contains("\0")
    }
}

extension CheckpointMetadata {
    /// Larger metadata files are refused before being read whole.
    static let maxFileBytes = 64 * 1024 * 1024
    /// One state blob or file larger than this (1 TiB) is not one this runtime wrote. The bound
    /// keeps offsets and lengths, and their sums over a metadata file, far from overflowing.
    static let maxStateBytes: UInt64 = 1 << 40
    /// Flink's upper bound on key groups, which Sluice shares.
    static let maxKeyGroups = 32_768

    /// Reads at most `maxFileBytes + 1` bytes of the file (nil: it does not exist), so that a huge
    /// file is refused by `decode` without being loaded.
    static func readFile(atPath path: String) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: maxFileBytes + 1)).map { $0.map { [UInt8]($0) } ?? [] }
    }

    /// Refuses what a tampered file could use against the job: names that lead out of the
    /// checkpoint folder, sizes that overflow, and indices out of their ranges.
    func validated() throws(CheckpointMetadataError) -> CheckpointMetadata {
        for op in operators {
            guard op.maxParallelism >= 1, op.maxParallelism <= Self.maxKeyGroups, op.parallelism >= 1, op.parallelism <= op.maxParallelism else {
                throw .malformed("operator \(op.operatorID) with parallelism \(op.parallelism) and max parallelism \(op.maxParallelism)")
            }
            for subtask in op.subtasks {
                guard subtask.subtaskIndex < op.parallelism else {
                    throw .malformed("operator \(op.operatorID) has subtask \(subtask.subtaskIndex) of \(op.parallelism)")
                }
                if let range = subtask.keyGroupRange, range.start < 0 || range.end >= op.maxParallelism || range.start > range.end + 1 {
                    throw .malformed("operator \(op.operatorID) has key groups \(range) outside 0..<\(op.maxParallelism)")
                }
                for handle in subtask.stateHandles {
                    try Self.check(name: handle.location)
                    guard handle.offset <= Self.maxStateBytes, handle.length <= Self.maxStateBytes else {
                        throw .malformed("state \(handle.location) at offset \(handle.offset) with length \(handle.length)")
                    }
                }
                for file in subtask.stateFiles {
                    try Self.check(name: file.name)
                    guard file.length <= Self.maxStateBytes else { throw .malformed("state file \(file.name) of \(file.length) bytes") }
                }
            }
        }
        return self
    }

    private static func check(name: String) throws(CheckpointMetadataError) {
        guard StateFileName.isPlain(name) else {
            throw .malformed("the state file name '\(name.prefix(100))' is not a plain file name (it has a '/', is '..' or empty): the file was not written by Sluice")
        }
    }
}
