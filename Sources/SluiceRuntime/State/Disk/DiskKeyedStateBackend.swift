import Foundation

/// Keyed state in an SQLite database on local disk, for state larger than memory, with incremental
/// checkpoints.
///
/// - Every entry is one row; its key is `key group (2 bytes, big endian) | state name | key bytes
///   [| map key bytes]`, so a key-group range is one contiguous key range (rescale = range copy).
/// - A checkpoint is a chain of files in the checkpoint directory's `shared/` folder: a full copy of
///   the database (`VACUUM INTO`), then change logs, each holding the rows changed since the
///   previous checkpoint (the backend tracks changed keys). Each checkpoint writes at most one new
///   file and references the chain; retention deletes a file when no retained checkpoint references
///   it. A new full copy starts a new chain when the change logs grow past `maxChangeLogRatio` of
///   the full copy, when more than `maxTrackedChanges` keys changed, or after a rescale.
/// - A savepoint (or a storage without shared files) gets a full copy in its own folder and leaves
///   the chain alone.
/// - Timers stay on the heap (a `HeapKeyedStateBackend` inside) and are part of the keyed blob.
final class DiskKeyedStateBackend<Key: Hashable & Sendable>: KeyedStateBackend {
    static var magic: [UInt8] { Array("SLDISK01".utf8) }
    static var changeLogMagic: [UInt8] { Array("SLCHLOG1".utf8) }

    let keyGroupRange: KeyGroupRange
    let maxParallelism: Int
    let keySerializer: AnyStateSerializer<Key>
    let options: DiskStateBackendOptions
    private let heap: HeapKeyedStateBackend<Key>
    private let store: SQLiteStore
    private let workDirectory: String
    private let fileStem: String
    private var states: [String: (kind: KeyedStateKind, state: AnyObject)] = [:]

    // Current key, serialized once per key.
    private var keyBytes: [UInt8] = []
    private var keyBytesValid = false

    // Incremental checkpoints.
    private var changed = Set<[UInt8]>()
    private var changesOverflowed = false
    /// Files of the last checkpoint (full copy first), and the shared folder they live in.
    private var chain: [StateFileHandle] = []
    private var chainNamespace: String?
    private var failure: (any Error)?

    var context: KeyContext<Key> { heap.context }

    init(
        options: DiskStateBackendOptions, operatorID: String, subtaskIndex: Int, keyGroupRange: KeyGroupRange,
        maxParallelism: Int, keySerializer: AnyStateSerializer<Key>, restore: KeyedStateRestore?
    ) throws {
        guard maxParallelism <= 1 << 16 else {
            throw RuntimeConfigurationError.invalid(
                "The on-disk state backend supports maxParallelism up to 65536 (got \(maxParallelism)): lower maxParallelism or use the heap backend.")
        }
        self.options = options
        self.keyGroupRange = keyGroupRange
        self.maxParallelism = maxParallelism
        self.keySerializer = keySerializer
        heap = HeapKeyedStateBackend(keyGroupRange: keyGroupRange, maxParallelism: maxParallelism, keySerializer: keySerializer)
        let safeID = FileSystemCheckpointStorage.sanitize(operatorID)
        let unique = UUID().uuidString.prefix(8).lowercased()
        fileStem = "\(safeID)-\(subtaskIndex)-\(unique)"
        Self.removeLeftovers(in: options.directory)
        workDirectory = "\(options.directory)/\(fileStem).pid\(getpid())"
        try FileSystemCheckpointStorage.makeDirectory(workDirectory)
        let databasePath = "\(workDirectory)/state.db"

        var parsed: [(range: KeyGroupRange, files: [StateFileHandle])] = []
        var heapBlobs: [[UInt8]] = []
        if let restore {
            for blob in restore.blobs {
                let part = try Self.parse(blob)
                heapBlobs.append(part.heapBlob)
                parsed.append((part.range, part.files))
            }
        }
        // Same key groups as one old subtask: start from its full copy as is, keep its chain.
        if let restore, let storage = restore.storage, parsed.count == 1, parsed[0].range == keyGroupRange,
           let base = parsed[0].files.first {
            _ = try StateFiles.copyDurably(from: try storage.stateFilePath(base, checkpointId: restore.checkpointId), to: databasePath)
            store = try SQLiteStore(path: databasePath, cacheBytes: options.cacheBytes)
            for changeLog in parsed[0].files.dropFirst() {
                try applyChangeLog(try storage.stateFilePath(changeLog, checkpointId: restore.checkpointId))
            }
            if parsed[0].files.allSatisfy({ $0.scope == .shared }) {
                chain = parsed[0].files
                chainNamespace = storage.sharedStateNamespace
            }
        } else {
            store = try SQLiteStore(path: databasePath, cacheBytes: options.cacheBytes)
            if let restore, !parsed.isEmpty {
                guard let storage = restore.storage else {
                    throw StateError.corruptSnapshot("on-disk state cannot be restored without its checkpoint storage")
                }
                // Rescale: copy this subtask's key-group range out of every overlapping old subtask.
                let lower = Self.keyGroupPrefix(keyGroupRange.start)
                let upper = Self.keyGroupPrefix(keyGroupRange.end + 1)
                for old in parsed where !old.range.intersection(keyGroupRange).isEmpty {
                    guard let base = old.files.first else { continue }
                    let temp = "\(workDirectory)/import.db"
                    _ = try StateFiles.copyDurably(from: try storage.stateFilePath(base, checkpointId: restore.checkpointId), to: temp)
                    defer { try? FileManager.default.removeItem(atPath: temp) }
                    try store.importRange(fromDatabase: temp, lower: lower, upper: upper)
                    for changeLog in old.files.dropFirst() {
                        try applyChangeLog(try storage.stateFilePath(changeLog, checkpointId: restore.checkpointId))
                    }
                }
            }
        }
        try store.commit()
        if !heapBlobs.isEmpty { try heap.restore(from: heapBlobs) }
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// Removes working folders of processes that no longer run (killed before they could clean up).
    /// Folders end in `.pid<N>`; only those whose process is gone are touched, so jobs of other live
    /// processes sharing the directory keep theirs.
    static func removeLeftovers(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            guard let marker = name.range(of: ".pid", options: .backwards),
                  let pid = Int32(name[marker.upperBound...]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            }
        }
    }

    // MARK: keys

    static func keyGroupPrefix(_ keyGroup: Int) -> [UInt8] {
        // The group past the last (65536) sorts after every 2-byte prefix.
        keyGroup >= 1 << 16 ? [0xFF, 0xFF, 0xFF] : [UInt8(keyGroup >> 8), UInt8(keyGroup & 0xFF)]
    }

    /// The smallest byte string greater than every string starting with `prefix`.
    static func successor(of prefix: [UInt8]) -> [UInt8] {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0xFF, 0xFF, 0xFF, 0xFF]
    }

    func setCurrentKey(_ key: Key, keyGroup: Int) {
        heap.setCurrentKey(key, keyGroup: keyGroup)
        keyBytesValid = false
    }

    /// `key group | state tag | current key`, or nil outside a keyed context.
    func rowKey(tag: [UInt8]) -> [UInt8]? {
        guard let key = context.key else { return nil }
        if !keyBytesValid {
            var writer = BinaryWriter(capacity: 32)
            do {
                try keySerializer.serialize(key, into: &writer)
            } catch {
                record(error)
                return nil
            }
            keyBytes = writer.bytes
            keyBytesValid = true
        }
        var row = Self.keyGroupPrefix(keyGroupRange.start + context.index)
        row.reserveCapacity(2 + tag.count + keyBytes.count + 16)
        row.append(contentsOf: tag)
        row.append(contentsOf: keyBytes)
        return row
    }

    func record(_ error: any Error) {
        if failure == nil { failure = error }
    }

    func throwIfFailed() throws {
        if let failure { throw failure }
    }

    // MARK: access used by the states

    func get(_ row: [UInt8]) -> [UInt8]? {
        do {
            return try store.get(row)
        } catch {
            record(error)
            return nil
        }
    }

    func put(_ row: [UInt8], _ value: [UInt8]) {
        do {
            try store.put(row, value)
            markChanged(row)
        } catch {
            record(error)
        }
    }

    func delete(_ row: [UInt8]) {
        do {
            try store.delete(row)
            markChanged(row)
        } catch {
            record(error)
        }
    }

    func scan(prefix: [UInt8], limit: Int = .max) -> [(key: [UInt8], value: [UInt8])] {
        do {
            return try store.range(from: prefix, to: Self.successor(of: prefix), limit: limit)
        } catch {
            record(error)
            return []
        }
    }

    func deleteAll(prefix: [UInt8]) {
        for row in scan(prefix: prefix) { markChanged(row.key) }
        do {
            try store.deleteRange(from: prefix, to: Self.successor(of: prefix))
        } catch {
            record(error)
        }
    }

    private func markChanged(_ row: [UInt8]) {
        guard !changesOverflowed else { return }
        changed.insert(row)
        if changed.count > options.maxTrackedChanges {
            changesOverflowed = true
            changed = []
        }
    }

    // MARK: registration

    private func register<S: AnyObject>(_ name: String, kind: KeyedStateKind, make: () -> S) throws -> S {
        if let existing = states[name] {
            guard existing.kind == kind, let typed = existing.state as? S else {
                throw StateError.kindMismatch(name: name, registered: existing.kind.description, requested: kind.description)
            }
            return typed
        }
        let state = make()
        states[name] = (kind, state)
        return state
    }

    /// Rows of a state start with its name and kind, so a state re-registered as another kind
    /// never reads the old kind's rows.
    private static func tag(_ name: String, _ kind: KeyedStateKind) -> [UInt8] {
        var writer = BinaryWriter(capacity: name.utf8.count + 4)
        writer.writeString(name)
        writer.writeUInt8(kind.rawValue)
        return writer.bytes
    }

    func valueState<V>(_ descriptor: ValueStateDescriptor<V>) throws -> ValueState<V> {
        try register(descriptor.name, kind: .value) {
            DiskValueState(name: descriptor.name, tag: Self.tag(descriptor.name, .value), backend: self, serializer: descriptor.serializer)
        }
    }

    func listState<V>(_ descriptor: ListStateDescriptor<V>) throws -> ListState<V> {
        try register(descriptor.name, kind: .list) {
            DiskListState(name: descriptor.name, tag: Self.tag(descriptor.name, .list), backend: self, serializer: descriptor.serializer)
        }
    }

    func mapState<MK: Hashable, MV>(_ descriptor: MapStateDescriptor<MK, MV>) throws -> MapState<MK, MV> {
        try register(descriptor.name, kind: .map) {
            DiskMapState(
                name: descriptor.name, tag: Self.tag(descriptor.name, .map), backend: self,
                keySerializer: descriptor.keySerializer, valueSerializer: descriptor.valueSerializer)
        }
    }

    /// Rows of a map state over all keys (tests check that window state is cleaned up).
    func rowCount(mapState name: String) -> Int {
        guard let groups = keyGroupRange.keyGroups else { return 0 }
        let tag = Self.tag(name, .map)
        return groups.reduce(0) { $0 + scan(prefix: Self.keyGroupPrefix($1) + tag).count }
    }

    func registerTable<T: KeyGroupPartitionedTable>(_ name: String, kind: KeyedStateKind, make: () -> T) throws -> T {
        try heap.registerTable(name, kind: kind, make: make)
    }

    // MARK: snapshot

    /// Bytes of the change logs and of the full copy in the current chain.
    private var chainSizes: (full: UInt64, changeLogs: UInt64) {
        (chain.first?.length ?? 0, chain.dropFirst().reduce(0) { $0 + $1.length })
    }

    func snapshot(checkpointId: Int64, storage: (any CheckpointStorage)?) throws -> KeyedStateSnapshot {
        try throwIfFailed()
        guard let storage else {
            throw StateError.corruptSnapshot("the on-disk backend got no checkpoint storage for checkpoint \(checkpointId) (a runtime bug)")
        }
        try store.commit()
        let namespace = storage.sharedStateNamespace
        let files: [StateFileHandle]
        if let namespace, namespace == chainNamespace, !chain.isEmpty, !changesOverflowed,
           Double(chainSizes.changeLogs) <= Double(chainSizes.full) * options.maxChangeLogRatio {
            if !changed.isEmpty {
                chain.append(try writeChangeLog(checkpointId: checkpointId, storage: storage))
            }
            files = chain
        } else {
            let full = try writeFullCopy(checkpointId: checkpointId, storage: storage, scope: namespace == nil ? .exclusive : .shared)
            files = [full]
            guard namespace != nil else {
                // A savepoint or self-contained checkpoint: the chain and tracked changes stay
                // for the next incremental checkpoint.
                return KeyedStateSnapshot(blob: try encode(files: files), files: files)
            }
            chain = files
            chainNamespace = namespace
        }
        changed = []
        changesOverflowed = false
        return KeyedStateSnapshot(blob: try encode(files: files), files: files)
    }

    private func sharedName(_ checkpointId: Int64, _ suffix: String) -> String {
        "\(checkpointId)-\(fileStem)-\(UUID().uuidString.prefix(8).lowercased()).\(suffix)"
    }

    private func writeFullCopy(checkpointId: Int64, storage: any CheckpointStorage, scope: StateFileScope) throws -> StateFileHandle {
        let local = "\(workDirectory)/full-\(checkpointId).db"
        try? FileManager.default.removeItem(atPath: local)
        defer { try? FileManager.default.removeItem(atPath: local) }
        try store.copy(to: local)
        return try storage.putStateFile(checkpointId: checkpointId, localPath: local, name: sharedName(checkpointId, "db"), scope: scope)
    }

    /// `SLCHLOG1`, then per changed row: 1 = put (row, value) or 2 = delete (row), length-prefixed.
    private func writeChangeLog(checkpointId: Int64, storage: any CheckpointStorage) throws -> StateFileHandle {
        var writer = BinaryWriter(capacity: 64 * 1024)
        writer.writeRaw(Self.changeLogMagic)
        for row in changed.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            if let value = try store.get(row) {
                writer.writeUInt8(1)
                writer.writeBytes(row)
                writer.writeBytes(value)
            } else {
                writer.writeUInt8(2)
                writer.writeBytes(row)
            }
        }
        let local = "\(workDirectory)/changes-\(checkpointId).log"
        defer { try? FileManager.default.removeItem(atPath: local) }
        // A scratch file: putStateFile copies it into the checkpoint durably.
        try FileSystemCheckpointStorage.writeFile(writer.bytes, to: local, sync: false)
        return try storage.putStateFile(checkpointId: checkpointId, localPath: local, name: sharedName(checkpointId, "log"), scope: .shared)
    }

    /// Applies a change log's rows of this backend's key groups.
    private func applyChangeLog(_ path: String) throws {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw StateError.corruptSnapshot("change log \(path) cannot be read")
        }
        var reader = BinaryReader([UInt8](contents))
        guard Array(try reader.readRaw(count: Self.changeLogMagic.count)) == Self.changeLogMagic else {
            throw StateError.corruptSnapshot("\(path) is not a change log")
        }
        let lower = Self.keyGroupPrefix(keyGroupRange.start)
        let upper = Self.keyGroupPrefix(keyGroupRange.end + 1)
        while reader.remaining > 0 {
            let op = try reader.readUInt8()
            let row = try reader.readBytes()
            let inRange = !row.lexicographicallyPrecedes(lower) && row.lexicographicallyPrecedes(upper)
            switch op {
            case 1:
                let value = try reader.readBytes()
                if inRange { try store.put(row, value) }
            case 2:
                if inRange { try store.delete(row) }
            default:
                throw StateError.corruptSnapshot("change log \(path) has an unknown record type \(op)")
            }
        }
        try store.commit()
    }

    // MARK: keyed blob

    /// `SLDISK01 | heap blob (timers) | key-group range | files`.
    private func encode(files: [StateFileHandle]) throws -> [UInt8] {
        var writer = BinaryWriter(capacity: 4096)
        writer.writeRaw(Self.magic)
        writer.writeBytes(try heap.snapshot())
        writer.writeVarInt(keyGroupRange.start)
        writer.writeVarInt(keyGroupRange.end)
        writer.writeVarUInt(UInt64(files.count))
        for file in files {
            writer.writeString(file.name)
            writer.writeUInt8(file.scope.rawValue)
            writer.writeUInt64(file.length)
            writer.writeUInt32(file.checksum)
        }
        return writer.bytes
    }

    static func isDiskBlob(_ blob: [UInt8]) -> Bool {
        blob.count >= magic.count && Array(blob[0..<magic.count]) == magic
    }

    private static func parse(_ blob: [UInt8]) throws -> (heapBlob: [UInt8], range: KeyGroupRange, files: [StateFileHandle]) {
        guard isDiskBlob(blob) else {
            throw StateError.corruptSnapshot(
                "this keyed state was written by the heap backend: run the operator with stateBackend .heap to restore it")
        }
        var reader = BinaryReader(blob)
        try reader.skip(magic.count)
        let heapBlob = try reader.readBytes()
        let range = KeyGroupRange(start: try reader.readVarInt(), end: try reader.readVarInt())
        guard range.end < CheckpointMetadata.maxKeyGroups, range.start <= range.end + 1 else {
            throw StateError.corruptSnapshot("key groups \(range) outside 0..<\(CheckpointMetadata.maxKeyGroups)")
        }
        let count = try reader.readVarInt()
        var files: [StateFileHandle] = []
        for _ in 0..<count {
            let name = try reader.readString()
            // The name becomes a path in the checkpoint folder: it must not lead out of it.
            guard StateFileName.isPlain(name) else { throw StateError.corruptSnapshot("the state file name '\(name.prefix(100))' is not a plain file name") }
            let rawScope = try reader.readUInt8()
            guard let scope = StateFileScope(rawValue: rawScope) else {
                throw StateError.corruptSnapshot("unknown state file scope \(rawScope)")
            }
            files.append(StateFileHandle(name: name, scope: scope, length: try reader.readUInt64(), checksum: try reader.readUInt32()))
        }
        return (heapBlob, range, files)
    }
}

/// A value per key: one row.
final class DiskValueState<Key: Hashable & Sendable, Value>: ValueState<Value> {
    private let name: String
    private let tag: [UInt8]
    private unowned let backend: DiskKeyedStateBackend<Key>
    private let serializer: AnyStateSerializer<Value>

    init(name: String, tag: [UInt8], backend: DiskKeyedStateBackend<Key>, serializer: AnyStateSerializer<Value>) {
        self.name = name
        self.tag = tag
        self.backend = backend
        self.serializer = serializer
    }

    override func value() -> Value? {
        guard let row = backend.rowKey(tag: tag), let bytes = backend.get(row) else { return nil }
        var reader = BinaryReader(bytes)
        do {
            return try serializer.deserialize(from: &reader)
        } catch {
            backend.record(error)
            return nil
        }
    }

    override func update(_ value: Value?) {
        guard let row = backend.rowKey(tag: tag) else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        guard let value else {
            backend.delete(row)
            return
        }
        var writer = BinaryWriter(capacity: 32)
        do {
            try serializer.serialize(value, into: &writer)
        } catch {
            backend.record(error)
            return
        }
        backend.put(row, writer.bytes)
    }
}

/// A list per key: one row holding the serialized elements one after another.
final class DiskListState<Key: Hashable & Sendable, Element>: ListState<Element> {
    private let name: String
    private let tag: [UInt8]
    private unowned let backend: DiskKeyedStateBackend<Key>
    private let serializer: AnyStateSerializer<Element>

    init(name: String, tag: [UInt8], backend: DiskKeyedStateBackend<Key>, serializer: AnyStateSerializer<Element>) {
        self.name = name
        self.tag = tag
        self.backend = backend
        self.serializer = serializer
    }

    private var row: [UInt8] {
        guard let row = backend.rowKey(tag: tag) else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        return row
    }

    override func get() -> [Element] {
        guard let row = backend.rowKey(tag: tag), let bytes = backend.get(row) else { return [] }
        var reader = BinaryReader(bytes)
        var elements: [Element] = []
        do {
            while reader.remaining > 0 { elements.append(try serializer.deserialize(from: &reader)) }
        } catch {
            backend.record(error)
        }
        return elements
    }

    override func add(_ element: Element) {
        let row = self.row
        var writer = BinaryWriter(capacity: 64)
        writer.writeRaw(backend.get(row) ?? [])
        do {
            try serializer.serialize(element, into: &writer)
        } catch {
            backend.record(error)
            return
        }
        backend.put(row, writer.bytes)
    }

    override func update(_ elements: [Element]) {
        let row = self.row
        guard !elements.isEmpty else {
            backend.delete(row)
            return
        }
        var writer = BinaryWriter(capacity: 64)
        do {
            for element in elements { try serializer.serialize(element, into: &writer) }
        } catch {
            backend.record(error)
            return
        }
        backend.put(row, writer.bytes)
    }
}

/// A map per key: one row per map entry (`... | key | map key`), read back with a prefix scan.
final class DiskMapState<Key: Hashable & Sendable, MapKey: Hashable, MapValue>: MapState<MapKey, MapValue> {
    private let name: String
    private let tag: [UInt8]
    private unowned let backend: DiskKeyedStateBackend<Key>
    private let mapKeySerializer: AnyStateSerializer<MapKey>
    private let valueSerializer: AnyStateSerializer<MapValue>

    init(
        name: String, tag: [UInt8], backend: DiskKeyedStateBackend<Key>,
        keySerializer: AnyStateSerializer<MapKey>, valueSerializer: AnyStateSerializer<MapValue>
    ) {
        self.name = name
        self.tag = tag
        self.backend = backend
        self.mapKeySerializer = keySerializer
        self.valueSerializer = valueSerializer
    }

    private func entryRow(_ mapKey: MapKey) -> [UInt8]? {
        guard var row = backend.rowKey(tag: tag) else { return nil }
        var writer = BinaryWriter(capacity: 16)
        do {
            try mapKeySerializer.serialize(mapKey, into: &writer)
        } catch {
            backend.record(error)
            return nil
        }
        row.append(contentsOf: writer.bytes)
        return row
    }

    private func requireRow(_ mapKey: MapKey) -> [UInt8]? {
        guard backend.context.key != nil else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        return entryRow(mapKey)
    }

    override func get(_ mapKey: MapKey) -> MapValue? {
        guard let row = entryRow(mapKey), let bytes = backend.get(row) else { return nil }
        var reader = BinaryReader(bytes)
        do {
            return try valueSerializer.deserialize(from: &reader)
        } catch {
            backend.record(error)
            return nil
        }
    }

    override func put(_ mapKey: MapKey, _ value: MapValue) {
        guard let row = requireRow(mapKey) else { return }
        var writer = BinaryWriter(capacity: 32)
        do {
            try valueSerializer.serialize(value, into: &writer)
        } catch {
            backend.record(error)
            return
        }
        backend.put(row, writer.bytes)
    }

    override func remove(_ mapKey: MapKey) {
        guard let row = requireRow(mapKey) else { return }
        backend.delete(row)
    }

    override func entries() -> [(key: MapKey, value: MapValue)] {
        guard let prefix = backend.rowKey(tag: tag) else { return [] }
        var result: [(key: MapKey, value: MapValue)] = []
        do {
            for row in backend.scan(prefix: prefix) {
                var keyReader = BinaryReader(row.key, range: prefix.count..<row.key.count)
                var valueReader = BinaryReader(row.value)
                result.append((try mapKeySerializer.deserialize(from: &keyReader), try valueSerializer.deserialize(from: &valueReader)))
            }
        } catch {
            backend.record(error)
        }
        return result
    }

    override var isEmpty: Bool {
        guard let prefix = backend.rowKey(tag: tag) else { return true }
        return backend.scan(prefix: prefix, limit: 1).isEmpty
    }

    override func clear() {
        guard let prefix = backend.rowKey(tag: tag) else { preconditionFailure(StateError.noCurrentKey(state: name).description) }
        backend.deleteAll(prefix: prefix)
    }
}
