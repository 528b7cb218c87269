import Foundation
import Logging
import Testing
@testable import SluiceRuntime

/// Drives on-disk backends through checkpoints the way the task and coordinator do: snapshot,
/// write the keyed blob, commit metadata with the state files, apply retention.
final class DiskCheckpointHarness {
    let root: String
    let storage: FileSystemCheckpointStorage
    var options: DiskStateBackendOptions
    let logger = Logger(label: "sluice.test.disk")
    static let maxParallelism = 16

    init(_ name: String = #function, cacheBytes: Int = 64 << 20, maxTrackedChanges: Int = 250_000) {
        root = temporaryDirectory(name)
        storage = FileSystemCheckpointStorage(directory: "\(root)/checkpoints")
        options = DiskStateBackendOptions(directory: "\(root)/work", cacheBytes: cacheBytes, maxTrackedChanges: maxTrackedChanges)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    static func range(_ subtask: Int, of parallelism: Int) -> KeyGroupRange {
        KeyGroups.range(forSubtask: subtask, parallelism: parallelism, maxParallelism: maxParallelism)
    }

    /// A backend for `range`, restored from the keyed state of `metadata` (any old parallelism).
    func backend(_ range: KeyGroupRange, from metadata: CheckpointMetadata? = nil, storage: (any CheckpointStorage)? = nil) throws
        -> DiskKeyedStateBackend<String>
    {
        var restore: KeyedStateRestore?
        if let metadata {
            let storage = storage ?? self.storage
            var blobs: [[UInt8]] = []
            for subtask in metadata.operators.flatMap(\.subtasks) {
                guard let handle = subtask.keyedState, let old = subtask.keyGroupRange, !old.intersection(range).isEmpty else { continue }
                blobs.append(try storage.read(handle, checkpointId: metadata.checkpointId))
            }
            restore = KeyedStateRestore(checkpointId: metadata.checkpointId, blobs: blobs, storage: storage)
        }
        return try DiskKeyedStateBackend(
            options: options, operatorID: "count", subtaskIndex: range.start, keyGroupRange: range,
            maxParallelism: Self.maxParallelism, keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()),
            restore: restore)
    }

    @discardableResult
    func checkpoint(_ id: Int64, _ backends: [DiskKeyedStateBackend<String>], retain: Int = 1) throws -> CheckpointMetadata {
        try snapshot(id, backends, into: storage, retain: retain)
    }

    func snapshot(_ id: Int64, _ backends: [DiskKeyedStateBackend<String>], into storage: FileSystemCheckpointStorage, retain: Int = 1) throws
        -> CheckpointMetadata
    {
        var subtasks: [OperatorSubtaskStateHandle] = []
        for (i, backend) in backends.enumerated() {
            let snapshot = try backend.snapshot(checkpointId: id, storage: storage)
            let handles = try storage.writeState(checkpointId: id, name: "count-\(i)", blobs: [snapshot.blob])
            subtasks.append(OperatorSubtaskStateHandle(
                subtaskIndex: i, operatorState: nil, keyedState: handles[0], keyGroupRange: backend.keyGroupRange,
                stateFiles: snapshot.files))
        }
        let metadata = CheckpointMetadata(
            checkpointId: id, timestamp: id, isFinal: false,
            operators: [OperatorCheckpointState(operatorID: "count", parallelism: backends.count, maxParallelism: Self.maxParallelism, subtasks: subtasks)])
        try storage.commit(metadata)
        storage.retainLatest(retain, logger: logger)
        return metadata
    }

    var sharedFiles: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: storage.sharedDirectory)) ?? [])
    }

    /// Checkpoint ids whose folders exist.
    var checkpointFolders: [Int64] { storage.checkpointIDs() }
}

/// Sets `value` for each key in a backend (each key in its own key group).
func put(_ values: [String: String], into backend: DiskKeyedStateBackend<String>, state: ValueState<String>) {
    for (key, value) in values.sorted(by: { $0.key < $1.key }) {
        backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: DiskCheckpointHarness.maxParallelism))
        state.update(value)
    }
}

/// Reads the value of every key the backend owns.
func read(_ keys: [String], from backend: DiskKeyedStateBackend<String>, state: ValueState<String>) -> [String: String] {
    var result: [String: String] = [:]
    for key in keys {
        let group = KeyGroups.keyGroup(for: key, maxParallelism: DiskCheckpointHarness.maxParallelism)
        guard backend.keyGroupRange.contains(group) else { continue }
        backend.setCurrentKey(key, keyGroup: group)
        if let value = state.value() { result[key] = value }
    }
    return result
}

@Suite struct DiskStateBackendTests {
    let valueDescriptor = ValueStateDescriptor<String>("value")

    /// Value, list and map state behave like the heap backend's, across a checkpoint and restore.
    @Test func stateKindsRoundTrip() throws {
        let harness = DiskCheckpointHarness()
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let values = try backend.valueState(ValueStateDescriptor<Int>("v"))
        let lists = try backend.listState(ListStateDescriptor<String>("l"))
        let maps = try backend.mapState(MapStateDescriptor<Int, Point>("m"))
        let keys = (0..<100).map { "key-\($0)" }
        for (i, key) in keys.enumerated() {
            backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 16))
            values.update(i)
            lists.add("a\(i)")
            lists.add("b\(i)")
            maps.put(i, Point(x: i, label: key))
            maps.put(i + 1000, Point(x: -i, label: key))
            if i % 10 == 0 { maps.remove(i + 1000) }
            if i % 20 == 0 { values.clear() }
        }
        #expect(throws: StateError.self) { try backend.listState(ListStateDescriptor<Int>("v")) }
        let metadata = try harness.checkpoint(1, [backend])
        let restored = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata)
        let v = try restored.valueState(ValueStateDescriptor<Int>("v"))
        let l = try restored.listState(ListStateDescriptor<String>("l"))
        let m = try restored.mapState(MapStateDescriptor<Int, Point>("m"))
        for (i, key) in keys.enumerated() {
            restored.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 16))
            #expect(v.value() == (i % 20 == 0 ? nil : i))
            #expect(l.get() == ["a\(i)", "b\(i)"])
            let expected = i % 10 == 0 ? [i] : [i, i + 1000]
            #expect(m.entries().map(\.key).sorted() == expected)
            #expect(m.get(i) == Point(x: i, label: key))
            #expect(!m.isEmpty)
            m.clear()
            #expect(m.isEmpty && m.entries().isEmpty)
            l.update([])
            #expect(l.get().isEmpty)
        }
        try restored.throwIfFailed()
    }

    /// 40,000 keys of 200-byte values (~8 MB) through a 256 KB page cache, checkpointed and restored.
    @Test func stateLargerThanTheMemoryBudgetRoundTrips() throws {
        let harness = DiskCheckpointHarness(cacheBytes: 256 << 10)
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let state = try backend.valueState(valueDescriptor)
        let keys = (0..<40_000).map { "user-\($0)" }
        let padding = String(repeating: "x", count: 200)
        var expected: [String: String] = [:]
        for key in keys { expected[key] = "\(key)-\(padding)" }
        put(expected, into: backend, state: state)
        let metadata = try harness.checkpoint(1, [backend])
        let fullBytes = metadata.stateFiles.reduce(0) { $0 + $1.length }
        #expect(fullBytes > 4 * UInt64(harness.options.cacheBytes))
        let restored = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata)
        #expect(read(keys, from: restored, state: try restored.valueState(valueDescriptor)) == expected)
    }

    /// After a small change, the next checkpoint adds one change log, much smaller than the full copy.
    @Test func incrementalCheckpointWritesOnlyTheChange() throws {
        let harness = DiskCheckpointHarness()
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let state = try backend.valueState(valueDescriptor)
        let keys = (0..<5_000).map { "k\($0)" }
        put(Dictionary(uniqueKeysWithValues: keys.map { ($0, "v0-\($0)") }), into: backend, state: state)
        let first = try harness.checkpoint(1, [backend], retain: 3)
        #expect(first.stateFiles.count == 1)
        let full = try #require(first.stateFiles.first)

        put(["k1": "changed", "k2": "changed"], into: backend, state: state)
        backend.setCurrentKey("k3", keyGroup: KeyGroups.keyGroup(for: "k3", maxParallelism: 16))
        state.clear()
        let second = try harness.checkpoint(2, [backend], retain: 3)
        let added = second.stateFiles.subtracting(first.stateFiles)
        #expect(second.stateFiles.isSuperset(of: first.stateFiles))
        #expect(added.count == 1)
        let log = try #require(added.first)
        #expect(log.length * 100 < full.length)
        #expect(second.writtenStateBytes < first.writtenStateBytes / 50)
        #expect(second.totalStateBytes > first.totalStateBytes)
        #expect(harness.sharedFiles == [full.name, log.name])

        // Nothing changed: the next checkpoint adds no file at all.
        let third = try harness.checkpoint(3, [backend], retain: 3)
        #expect(third.stateFiles == second.stateFiles)
        #expect(harness.sharedFiles.count == 2)

        var expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, "v0-\($0)") })
        expected["k1"] = "changed"
        expected["k2"] = "changed"
        expected["k3"] = nil
        let restored = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: third)
        #expect(read(keys, from: restored, state: try restored.valueState(valueDescriptor)) == expected)
    }

    /// Working folders of killed processes are removed when a backend starts; live ones are kept.
    @Test func leftoverWorkingFoldersOfDeadProcessesAreRemoved() throws {
        let harness = DiskCheckpointHarness()
        try FileManager.default.createDirectory(atPath: harness.options.directory, withIntermediateDirectories: true)
        // A child that exits at once: its pid is then not running.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = "\(harness.options.directory)/count-0-abcdef12.pid\(child.processIdentifier)"
        let alive = "\(harness.options.directory)/count-1-abcdef12.pid1"
        for folder in [dead, alive] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: alive))
        #expect(backend.keyGroupRange.count == 16)
    }

    /// A shared file is deleted exactly when the last retained checkpoint referencing it is dropped.
    @Test func sharedFilesAreDeletedWhenNoRetainedCheckpointNeedsThem() throws {
        let harness = DiskCheckpointHarness(maxTrackedChanges: 50)
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let state = try backend.valueState(valueDescriptor)
        let keys = (0..<2_000).map { "k\($0)" }
        put(Dictionary(uniqueKeysWithValues: keys.map { ($0, "v\($0)") }), into: backend, state: state)
        let c1 = try harness.checkpoint(1, [backend], retain: 2)      // full F1
        put(["k1": "a"], into: backend, state: state)
        let c2 = try harness.checkpoint(2, [backend], retain: 2)      // F1 + L2
        put(["k2": "b"], into: backend, state: state)
        let c3 = try harness.checkpoint(3, [backend], retain: 2)      // F1 + L2 + L3; checkpoint 1 dropped
        #expect(harness.checkpointFolders == [2, 3])
        #expect(harness.sharedFiles == Set(c3.stateFiles.map(\.name)))
        #expect(c3.stateFiles.count == 3 && c3.stateFiles.isSuperset(of: c2.stateFiles) && c2.stateFiles.isSuperset(of: c1.stateFiles))

        // More changes than are tracked: checkpoint 4 is a new full copy; 3 still needs F1, L2, L3.
        put(Dictionary(uniqueKeysWithValues: keys.prefix(100).map { ($0, "w\($0)") }), into: backend, state: state)
        let c4 = try harness.checkpoint(4, [backend], retain: 2)
        #expect(c4.stateFiles.count == 1 && c4.stateFiles.isDisjoint(with: c3.stateFiles))
        #expect(harness.sharedFiles == Set((c3.stateFiles.union(c4.stateFiles)).map(\.name)))

        // Checkpoint 5 drops checkpoint 3, the last one referencing F1, L2 and L3.
        put(["k5": "c"], into: backend, state: state)
        let c5 = try harness.checkpoint(5, [backend], retain: 2)
        #expect(harness.checkpointFolders == [4, 5])
        #expect(harness.sharedFiles == Set(c5.stateFiles.map(\.name)))
        #expect(c5.stateFiles.isSuperset(of: c4.stateFiles) && c5.stateFiles.count == 2)
    }

    /// Clean-up is derived from the retained metadata each time: leftovers of a crash in the middle
    /// of a clean-up (or of an aborted checkpoint) go at the next one; files of a checkpoint still
    /// in progress stay.
    @Test func cleanUpIsRobustToLeftovers() throws {
        let harness = DiskCheckpointHarness()
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let state = try backend.valueState(valueDescriptor)
        put(["a": "1"], into: backend, state: state)
        let c1 = try harness.checkpoint(1, [backend])
        let orphan = "\(harness.storage.sharedDirectory)/1-count-0-deadbeef.log"
        let inProgress = "\(harness.storage.sharedDirectory)/3-count-0-cafecafe.log"
        #expect(FileManager.default.createFile(atPath: orphan, contents: Data([1, 2, 3])))
        #expect(FileManager.default.createFile(atPath: inProgress, contents: Data([1, 2, 3])))
        put(["a": "2"], into: backend, state: state)
        let c2 = try harness.checkpoint(2, [backend])
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: inProgress))
        #expect(harness.sharedFiles == Set(c2.stateFiles.map(\.name)).union(["3-count-0-cafecafe.log"]))
        #expect(c2.stateFiles.isSuperset(of: c1.stateFiles))
    }

    /// A crash loses the working database; a new backend restores from the checkpoint alone,
    /// including changes after the last full copy and without changes after the checkpoint.
    @Test func restoreAfterCrashFromTheCheckpointOnly() throws {
        let harness = DiskCheckpointHarness()
        let valueDescriptor = self.valueDescriptor
        func timerTable(_ backend: DiskKeyedStateBackend<String>) throws -> TimerQueue<String> {
            try backend.registerTable("_timers_event", kind: .eventTimers) {
                TimerQueue<String>(
                    name: "_timers_event", kind: .eventTimers, keyGroupCount: 16, keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()))
            }
        }
        // The process that crashes: nothing of it survives this function but the checkpoints.
        func runUntilCrash() throws {
            let live = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
            let state = try live.valueState(valueDescriptor)
            let timers = try timerTable(live)
            put(["a": "1", "b": "1"], into: live, state: state)
            try harness.checkpoint(1, [live])
            put(["a": "2"], into: live, state: state)
            timers.register(key: "a", keyGroupIndex: KeyGroups.keyGroup(for: "a", maxParallelism: 16), timestamp: 42)
            try harness.checkpoint(2, [live])
            put(["b": "lost"], into: live, state: state)   // after the last checkpoint
        }
        try runUntilCrash()
        // The working files went with the process.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: harness.options.directory)) ?? []).isEmpty)

        let metadata = try #require(harness.storage.latestCompleted(logger: harness.logger))
        #expect(metadata.checkpointId == 2)
        let restored = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata)
        let state = try restored.valueState(valueDescriptor)
        #expect(read(["a", "b"], from: restored, state: state) == ["a": "2", "b": "1"])
        let due = try timerTable(restored).popDue(atOrBefore: 100)
        #expect(due?.key == "a" && due?.timestamp == 42)
        // The restored chain is reused: after a small change the next checkpoint adds one change log.
        put(["c": "3"], into: restored, state: state)
        let next = try harness.checkpoint(3, [restored], retain: 2)
        #expect(next.stateFiles.isSuperset(of: metadata.stateFiles))
        #expect(next.stateFiles.subtracting(metadata.stateFiles).count == 1)
    }

    /// Rescale 1 -> 3 -> 2 from incremental checkpoints: every key lands in exactly one subtask
    /// with its latest value.
    @Test func rescaleOneToThreeToTwo() throws {
        let harness = DiskCheckpointHarness()
        let keys = (0..<600).map { "key-\($0)" }
        var expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, "one-\($0)") })
        let single = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        put(expected, into: single, state: try single.valueState(valueDescriptor))
        try harness.checkpoint(1, [single], retain: 3)
        put(["key-7": "one-changed"], into: single, state: try single.valueState(valueDescriptor))
        expected["key-7"] = "one-changed"
        let c2 = try harness.checkpoint(2, [single], retain: 3)
        #expect(c2.stateFiles.count == 2)   // full copy + change log

        let three = try (0..<3).map { try harness.backend(DiskCheckpointHarness.range($0, of: 3), from: c2) }
        var seen: [String: String] = [:]
        for backend in three {
            let state = try backend.valueState(valueDescriptor)
            let owned = read(keys, from: backend, state: state)
            #expect(Set(owned.keys).isDisjoint(with: seen.keys))
            seen.merge(owned) { a, _ in a }
            // Change every key this subtask owns.
            put(Dictionary(uniqueKeysWithValues: owned.keys.map { ($0, "three-\($0)") }), into: backend, state: state)
        }
        #expect(seen == expected)
        expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, "three-\($0)") })
        try harness.checkpoint(3, three, retain: 3)
        put(["key-8": "three-changed"], into: three[0], state: try three[0].valueState(valueDescriptor))
        put(["key-8": "three-changed"], into: three[1], state: try three[1].valueState(valueDescriptor))
        put(["key-8": "three-changed"], into: three[2], state: try three[2].valueState(valueDescriptor))
        expected["key-8"] = "three-changed"
        let c4 = try harness.checkpoint(4, three, retain: 3)

        let two = try (0..<2).map { try harness.backend(DiskCheckpointHarness.range($0, of: 2), from: c4) }
        seen = [:]
        for backend in two {
            let owned = read(keys, from: backend, state: try backend.valueState(valueDescriptor))
            #expect(Set(owned.keys).isDisjoint(with: seen.keys))
            seen.merge(owned) { a, _ in a }
        }
        #expect(seen == expected)
    }

    /// A missing or damaged shared file is refused with a typed error, never restored as empty state.
    @Test func missingOrCorruptSharedFileIsRefused() throws {
        let harness = DiskCheckpointHarness()
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        put(["a": "1"], into: backend, state: try backend.valueState(valueDescriptor))
        try harness.checkpoint(1, [backend], retain: 2)
        put(["a": "2"], into: backend, state: try backend.valueState(valueDescriptor))
        let metadata = try harness.checkpoint(2, [backend], retain: 2)
        let log = try #require(metadata.stateFiles.first { $0.name.hasSuffix(".log") })
        let full = try #require(metadata.stateFiles.first { $0.name.hasSuffix(".db") })
        let logPath = "\(harness.storage.sharedDirectory)/\(log.name)"

        // Damaged: one byte flipped.
        var bytes = try #require(FileManager.default.contents(atPath: logPath))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: logPath))
        do {
            _ = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata)
            Issue.record("a damaged change log was accepted")
        } catch CheckpointStorageError.corruptStateFile(let path, let id, _) {
            #expect(path == logPath && id == 2)
        }
        // Missing.
        let fullPath = "\(harness.storage.sharedDirectory)/\(full.name)"
        try FileManager.default.removeItem(atPath: fullPath)
        do {
            _ = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata)
            Issue.record("a missing full copy was accepted")
        } catch CheckpointStorageError.missingStateFile(let path, let id) {
            #expect(path == fullPath && id == 2)
        }
    }

    /// A savepoint copies the whole state into its own folder (never referencing shared/), and
    /// leaves the incremental chain alone.
    @Test func savepointIsSelfContained() throws {
        let harness = DiskCheckpointHarness()
        let backend = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let state = try backend.valueState(valueDescriptor)
        put(["a": "1", "b": "1"], into: backend, state: state)
        let c1 = try harness.checkpoint(1, [backend], retain: 5)
        put(["a": "2"], into: backend, state: state)
        let folder = "\(harness.root)/savepoints/savepoint-2"
        let savepoint = try harness.snapshot(2, [backend], into: FileSystemCheckpointStorage(snapshotFolder: folder))
        #expect(savepoint.stateFiles.count == 1 && savepoint.stateFiles.allSatisfy { $0.scope == .exclusive })
        // The next checkpoint is still incremental: it carries the change made before the savepoint.
        let c3 = try harness.checkpoint(3, [backend], retain: 5)
        #expect(c3.stateFiles.count == 2 && c3.stateFiles.isSuperset(of: c1.stateFiles))

        // The savepoint restores with the checkpoint directory gone.
        try FileManager.default.removeItem(atPath: harness.storage.directory)
        let (metadata, storage) = try FileSystemCheckpointStorage.openSnapshot(at: folder)
        let restored = try harness.backend(DiskCheckpointHarness.range(0, of: 1), from: metadata, storage: storage)
        #expect(read(["a", "b"], from: restored, state: try restored.valueState(valueDescriptor)) == ["a": "2", "b": "1"])
    }

    @Test func invalidOptionsAreRefusedByExecute() throws {
        var config = testConfiguration()
        config.stateBackend = .disk(DiskStateBackendOptions(directory: "", cacheBytes: 0))
        let env = StreamExecutionEnvironment(config)
        env.fromSource(CollectionSource([1]), name: "one").sinkTo(CollectingSink(into: CollectedValues<Int>()))
        #expect(throws: RuntimeConfigurationError.self) { try env.execute() }
    }

    @Test func metadataCarriesStateFiles() throws {
        let file = StateFileHandle(name: "7-count-0-abc.db", scope: .shared, length: 123, checksum: 0xDEAD)
        let metadata = CheckpointMetadata(
            checkpointId: 7, timestamp: 1, isFinal: false,
            operators: [OperatorCheckpointState(operatorID: "count", parallelism: 1, maxParallelism: 16, subtasks: [
                OperatorSubtaskStateHandle(
                    subtaskIndex: 0, operatorState: nil, keyedState: nil, keyGroupRange: KeyGroupRange(start: 0, end: 15),
                    stateFiles: [file]),
            ])])
        let decoded = try CheckpointMetadata.decode(metadata.encoded())
        #expect(decoded == metadata)
        #expect(decoded.stateFiles == [file])
        #expect(CheckpointMetadata.formatVersion == 6)
        // A version-7 file is refused.
        var bytes = metadata.encoded()
        bytes[8] = 7  // the version, little endian, after the 8 magic bytes
        bytes.removeLast(4)
        bytes.append(contentsOf: withUnsafeBytes(of: CRC32.checksum(bytes).littleEndian, Array.init))
        #expect(throws: CheckpointMetadataError.unsupportedVersion(found: 7, supported: 6)) { try CheckpointMetadata.decode(bytes) }
    }

    /// A heap snapshot is refused by the disk backend (and the other way round) with a clear error.
    @Test func backendsRefuseEachOthersSnapshots() throws {
        let harness = DiskCheckpointHarness()
        let heap = HeapKeyedStateBackend<String>(
            keyGroupRange: DiskCheckpointHarness.range(0, of: 1), maxParallelism: 16, keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()))
        let heapBlob = try heap.snapshot()
        #expect(throws: StateError.self) {
            _ = try DiskKeyedStateBackend<String>(
                options: harness.options, operatorID: "count", subtaskIndex: 0, keyGroupRange: heap.keyGroupRange, maxParallelism: 16,
                keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()),
                restore: KeyedStateRestore(checkpointId: 1, blobs: [heapBlob], storage: harness.storage))
        }
        let disk = try harness.backend(DiskCheckpointHarness.range(0, of: 1))
        let diskBlob = try disk.snapshot(checkpointId: 1, storage: harness.storage).blob
        #expect(throws: StateError.self) {
            _ = try KeyedStateBackends.make(
                choice: .heap, operatorID: "count", subtaskIndex: 0, keyGroupRange: heap.keyGroupRange, maxParallelism: 16,
                keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()),
                restore: KeyedStateRestore(checkpointId: 1, blobs: [diskBlob], storage: harness.storage))
        }
    }
}

/// The exactly-once counting job on the on-disk backend: crash, rescale 1 -> 3 -> 2, exact output.
@Suite struct DiskStateBackendJobTests {
    @Test func crashAndRescaleOneToThreeToTwo() throws {
        let words = (0..<900).map { "k\($0 % 13)" }
        let store = InMemoryTransactionalStore<String>()
        let directory = temporaryDirectory("diskjob")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func run(parallelism: Int, crashAt: Int64?) throws {
            var config = testConfiguration(
                checkpointing: CheckpointConfig(directory: "\(directory)/checkpoints"),
                faults: crashAt.map { FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: $0) } ?? .disabled)
            config.stateBackend = .disk(directory: "\(directory)/work")
            let env = StreamExecutionEnvironment(config)
            env.fromSource(CollectionSource(words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
                .keyBy { $0 }
                .process(name: "count", RunningCount()).setParallelism(parallelism)
                .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: parallelism)
            _ = try env.execute()
        }
        #expect(throws: JobFailedError.self) { try run(parallelism: 1, crashAt: 4) }
        #expect(throws: JobFailedError.self) { try run(parallelism: 3, crashAt: 9) }
        try run(parallelism: 2, crashAt: nil)

        var counts: [String: Int] = [:]
        let expected = words.map { word -> String in
            counts[word, default: 0] += 1
            return "\(word):\(counts[word] ?? 0)"
        }.sorted()
        #expect(store.committedValues.sorted() == expected)
        #expect(store.unfinishedTransactions.isEmpty)
        // The checkpoints used shared state files, and retention left only referenced ones.
        let storage = FileSystemCheckpointStorage(directory: "\(directory)/checkpoints")
        let latest = try #require(storage.latestCompleted(logger: Logger(label: "test")))
        #expect(!latest.stateFiles.isEmpty)
        let onDisk = Set((try? FileManager.default.contentsOfDirectory(atPath: storage.sharedDirectory)) ?? [])
        let referenced = Set(storage.checkpointIDs().compactMap { try? storage.loadMetadata($0) }.flatMap { $0.stateFiles.map(\.name) })
        #expect(onDisk == referenced)
    }
}

extension DiskStateBackendJobTests {
    /// A restarted job whose latest checkpoint lost a shared file fails with the typed error instead
    /// of starting with empty state.
    @Test func jobWithAMissingSharedFileFailsInsteadOfLosingState() throws {
        let words = (0..<300).map { "k\($0 % 5)" }
        let directory = temporaryDirectory("diskmissing")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = InMemoryTransactionalStore<String>()
        func run(crashAt: Int64?) throws {
            var config = testConfiguration(
                checkpointing: CheckpointConfig(directory: "\(directory)/checkpoints"),
                faults: crashAt.map { FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: $0) } ?? .disabled)
            config.stateBackend = .disk(directory: "\(directory)/work")
            let env = StreamExecutionEnvironment(config)
            env.fromSource(CollectionSource(words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
                .keyBy { $0 }
                .process(name: "count", RunningCount())
                .sinkTo(TransactionalCollectingSink(store: store), name: "sink")
            _ = try env.execute()
        }
        #expect(throws: JobFailedError.self) { try run(crashAt: 3) }
        let storage = FileSystemCheckpointStorage(directory: "\(directory)/checkpoints")
        let latest = try #require(storage.latestCompleted(logger: Logger(label: "test")))
        let full = try #require(latest.stateFiles.first { $0.name.hasSuffix(".db") })
        try FileManager.default.removeItem(atPath: "\(storage.sharedDirectory)/\(full.name)")
        do {
            try run(crashAt: nil)
            Issue.record("the job started without its state")
        } catch let error as JobFailedError {
            guard case CheckpointStorageError.missingStateFile(let path, let id)? = error.underlying as? CheckpointStorageError else {
                Issue.record("unexpected failure: \(error)")
                return
            }
            #expect(path.hasSuffix(full.name) && id == latest.checkpointId)
        }
    }
}

/// Event-time windows (map state + timers) on the on-disk backend with the in-memory checkpoint
/// storage (full copies), a crash and an in-process restart: exactly the windows of a clean run.
@Suite struct DiskStateBackendWindowTests {
    @Test func windowsSurviveAnInProcessRestart() throws {
        let clicks = (0..<400).map { Click(page: "p\($0 % 7)", ts: Int64($0) * 10) }
        let store = InMemoryTransactionalStore<String>()
        let faults = FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 3)
        var config = testConfiguration(restart: .fixedDelay(attempts: 2, delay: .zero), faults: faults, parallelism: 2)
        let work = temporaryDirectory("diskwindows")
        defer { try? FileManager.default.removeItem(atPath: work) }
        config.stateBackend = .disk(directory: work)
        let env = StreamExecutionEnvironment(config)
        env.fromSource(
            CollectionSource(clicks, recordsPerPoll: 5, checkpointEvery: 40), name: "clicks", parallelism: 1,
            watermarkStrategy: WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { click, _ in click.ts })
            .keyBy { $0.page }
            .window(TumblingEventTimeWindows(sizeMillis: 1000))
            .count()
            .map { "\($0.key)@\($0.window.start)=\($0.value)" }
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink")
        let result = try env.execute()
        #expect(faults.hasFired)
        #expect(result.restarts == 1)
        var counts: [String: Int] = [:]
        for click in clicks { counts["\(click.page)@\(click.ts / 1000 * 1000)", default: 0] += 1 }
        #expect(store.committedValues.sorted() == counts.map { "\($0.key)=\($0.value)" }.sorted())
    }
}

/// Speed of the on-disk backend. Measurements, not assertions: run only with SLUICE_BENCH=1, in release:
/// `SLUICE_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter DiskStateBenchmarks`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_BENCH"] != nil), .serialized)
struct DiskStateBenchmarks {
    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func millionKeysAndCheckpoints() throws {
        let keys = 1_000_000
        let root = temporaryDirectory("diskbench")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = FileSystemCheckpointStorage(directory: "\(root)/checkpoints")
        let options = DiskStateBackendOptions(directory: "\(root)/work", cacheBytes: 64 << 20)
        let range = KeyGroupRange(start: 0, end: 127)
        func make(_ restore: KeyedStateRestore?) throws -> DiskKeyedStateBackend<Int> {
            try DiskKeyedStateBackend<Int>(
                options: options, operatorID: "count", subtaskIndex: 0, keyGroupRange: range, maxParallelism: 128,
                keySerializer: AnyStateSerializer(BinaryCodableSerializer<Int>()), restore: restore)
        }
        let backend = try make(nil)
        let state = try backend.valueState(ValueStateDescriptor<Int>("count"))
        let put = try seconds {
            for key in 0..<keys {
                backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 128))
                state.update(key &* 7)
            }
            try backend.throwIfFailed()
        }
        var sum = 0
        let get = try seconds {
            for key in 0..<keys {
                backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 128))
                sum &+= state.value() ?? 0
            }
            try backend.throwIfFailed()
        }
        var full = KeyedStateSnapshot(blob: [], files: [])
        let fullTime = try seconds { full = try backend.snapshot(checkpointId: 1, storage: storage) }
        for key in 0..<1_000 {
            backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 128))
            state.update(-key)
        }
        var incremental = KeyedStateSnapshot(blob: [], files: [])
        let incrementalTime = try seconds { incremental = try backend.snapshot(checkpointId: 2, storage: storage) }
        let handle = try storage.writeState(checkpointId: 2, name: "count-0", blobs: [incremental.blob])[0]
        let blob = try storage.read(try #require(handle), checkpointId: 2)
        let restoreTime = try seconds { _ = try make(KeyedStateRestore(checkpointId: 2, blobs: [blob], storage: storage)) }
        let fullBytes = full.files.reduce(0) { $0 + $1.length }
        let added = incremental.files.filter { !full.files.contains($0) }.reduce(0) { $0 + $1.length }
        print(String(format: "BENCH disk backend, %d keys: put %.2f s (%.0f/s), get %.2f s (%.0f/s) [%d]", keys, put, Double(keys) / put, get, Double(keys) / get, sum & 1))
        print(String(format: "BENCH disk backend: full checkpoint %.3f s, %llu bytes; after 1,000 changes incremental %.3f s, %llu bytes; restore %.3f s",
                     fullTime, fullBytes, incrementalTime, added, restoreTime))
    }
}

/// Drives one window operator on the on-disk backend, with snapshots through a checkpoint directory.
final class DiskOperatorHarness<In: Sendable & Equatable, Out: Sendable & Equatable> {
    let factory: TypedNodeFactory<In, Out>
    let clock = ManualClock()
    let output = CapturingOutput<Out>()
    let root = temporaryDirectory("diskharness")
    let storage: FileSystemCheckpointStorage
    let services: TaskServices
    private(set) var op: OneInputOperator<In, Out>?

    init(_ declare: (DataStream<In>) -> DataStream<Out>) throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let stream = declare(env.fromCollection([In]()))
        guard let factory = env.draft(stream.nodeId)?.factory as? TypedNodeFactory<In, Out> else {
            throw WiringError(description: "the declared stream is not a one-input operator from \(In.self) to \(Out.self)")
        }
        self.factory = factory
        storage = FileSystemCheckpointStorage(directory: "\(root)/checkpoints")
        services = TaskServices(requestCheckpoint: {}, firstCheckpointId: 1, stateBackend: .disk(directory: "\(root)/work"))
        op = try instantiate(restore: nil)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    private func instantiate(restore: OperatorRestore?) throws -> OneInputOperator<In, Out> {
        var logger = Logger(label: "sluice.test")
        logger.logLevel = .critical
        let setup = OperatorSetup(
            operatorID: "window", subtaskIndex: 0, parallelism: 1, maxParallelism: 128, logger: logger,
            metrics: RuntimeMetrics(factory: TestMetrics(), jobName: "test"), restore: restore, clock: clock, faultInjector: .disabled,
            services: services, sideOutputs: SideOutputs(outputs: [:]))
        guard let op = try factory.make(setup, output) as? OneInputOperator<In, Out> else {
            throw WiringError(description: "not a one-input operator")
        }
        try op.open()
        return op
    }

    func element(_ value: In, _ timestamp: Int64?) throws { try op?.processElement(value, timestamp: timestamp) }
    func watermark(_ watermark: Int64) throws { try op?.processWatermark(watermark) }

    /// Snapshot into checkpoint `id`, drop the operator (and its working database), restore a new one.
    func snapshotAndRestore(_ id: Int64) throws -> OperatorSnapshot {
        services.snapshotStorage.storage = storage
        guard let current = op else { throw WiringError(description: "no operator") }
        let snapshot = try current.snapshotState(checkpointId: id)
        let handle = try #require(try storage.writeState(checkpointId: id, name: "window-0", blobs: [snapshot.keyedState])[0])
        current.close(failed: true)
        op = nil
        let blob = try storage.read(handle, checkpointId: id)
        op = try instantiate(restore: OperatorRestore(
            checkpointId: id, previousParallelism: 1, operatorLists: [:], keyedBlobs: [blob], storage: storage))
        return snapshot
    }

    var stateEntries: Int? { (op as? any WindowStateInspectable)?.stateEntryCount }
}

@Suite struct DiskWindowStateTests {
    private func click(_ page: String, _ ts: Int64) -> Click { Click(page: page, ts: ts) }
    private func result(_ key: String, _ start: Int64, _ end: Int64, _ value: Int) -> Emitted<WindowResult<String, Int>> {
        let window = TimeWindow(start: start, end: end)
        return .record(WindowResult(key: key, window: window, value: value), timestamp: window.maxTimestamp)
    }

    /// Session windows (contents, merging sets, timers) live in disk rows and survive a restore.
    @Test func mergingSessionsLiveOnDiskAndSurviveRestore() throws {
        let h = try DiskOperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).count()
        }
        try h.element(click("a", 0), 0)
        try h.element(click("a", 15), 15)
        try h.element(click("b", 3), 3)
        try h.watermark(5)
        #expect((h.stateEntries ?? 0) > 0)
        let snapshot = try h.snapshotAndRestore(1)
        #expect(!snapshot.stateFiles.isEmpty)
        // The window tables are rows of the database, not heap tables in the keyed blob (timers are).
        let blobText = String(decoding: snapshot.keyedState, as: UTF8.self)
        #expect(!blobText.contains("windows-contents") && !blobText.contains("windows-merging-set"))
        #expect(blobText.contains("_timers_event"))
        try h.element(click("a", 8), 8)      // merges the restored sessions [0, 10) and [15, 25)
        try h.watermark(40)
        #expect(h.output.emitted == [
            .watermark(5), result("b", 3, 13, 1), result("a", 0, 25, 3), .watermark(40),
        ])
        #expect(h.stateEntries == 0)
    }

    /// Trigger values of merged sessions add up across a restore on disk.
    @Test func triggerStateOnDiskSurvivesRestore() throws {
        let h = try DiskOperatorHarness<Click, WindowResult<String, Int>> {
            $0.keyBy { $0.page }.window(EventTimeSessionWindows(gapMillis: 10)).trigger(CountTrigger(3)).count()
        }
        try h.element(click("a", 0), 0)
        try h.element(click("a", 15), 15)
        _ = try h.snapshotAndRestore(1)
        try h.element(click("a", 8), 8)
        #expect(h.output.emitted == [result("a", 0, 25, 3)])
    }
}

/// Stop-with-savepoint on the on-disk backend: the savepoint restores without the checkpoint
/// directory (self-contained), with other parallelisms.
@Suite struct DiskSavepointJobTests {
    @Test func stopWithSavepointAndResumeWithoutTheCheckpointDirectory() throws {
        let job = SavepointCountJob()
        let work = temporaryDirectory("disksp-work")
        defer { try? FileManager.default.removeItem(atPath: work) }
        func environment(parallelism: Int, gate: SourceGate) -> StreamExecutionEnvironment {
            var config = testConfiguration(checkpointing: CheckpointConfig(interval: .milliseconds(1), retainedCheckpoints: 2, directory: job.checkpoints))
            config.stateBackend = .disk(directory: work)
            let env = StreamExecutionEnvironment(config)
            env.fromSource(GatedSource(elements: job.words, gate: gate), name: "words")
                .keyBy { $0 }
                .process(name: "count", RunningCount()).setParallelism(parallelism)
                .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: parallelism)
            return env
        }
        func runAndStop(parallelism: Int, restoreFrom: String?, stopAt: Int) throws -> String {
            let gate = SourceGate()
            gate.open(to: stopAt)
            let env = environment(parallelism: parallelism, gate: gate)
            let run = try BackgroundJob(env, restoreFrom: restoreFrom)
            #expect(gate.waitUntilReached(stopAt))
            let path = try env.control.stopWithSavepoint(directory: job.savepoints)
            #expect(try run.result().status == .stoppedWithSavepoint(path))
            return path
        }
        let first = try runAndStop(parallelism: 1, restoreFrom: nil, stopAt: 200)
        let metadata = try FileSystemCheckpointStorage.openSnapshot(at: first).metadata
        #expect(!metadata.stateFiles.isEmpty && metadata.stateFiles.allSatisfy { $0.scope == .exclusive })
        try FileManager.default.removeItem(atPath: job.checkpoints)
        let second = try runAndStop(parallelism: 3, restoreFrom: first, stopAt: 400)
        #expect(job.store.committedValues.sorted() == job.expected(0..<400))
        try FileManager.default.removeItem(atPath: job.checkpoints)
        let gate = SourceGate()
        gate.open(to: job.words.count)
        let result = try environment(parallelism: 2, gate: gate).execute(restoreFrom: second)
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected(0..<job.words.count))
        #expect(job.store.unfinishedTransactions.isEmpty)
    }
}
