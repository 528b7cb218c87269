/// How an operator list state is spread over subtasks on restore.
public enum OperatorStateDistribution: UInt8, Sendable {
    /// All entries of all old subtasks are concatenated and split into contiguous, even chunks
    /// (each subtask keeps its own entries when the parallelism did not change).
    case evenSplit = 0
    /// Every subtask gets every entry of every old subtask (the Kafka source takes its splits from it).
    case union = 1
    /// Broadcast state: every old subtask holds the same copy; new subtask i takes old subtask
    /// i's copy, or copy `i % oldParallelism` when scaling up (Flink's BROADCAST mode).
    case broadcast = 2
}

/// Non-keyed list state of one operator subtask.
public final class OperatorListState<Element> {
    public let name: String
    let distribution: OperatorStateDistribution
    let serializer: AnyStateSerializer<Element>
    private var elements: [Element]

    init(name: String, distribution: OperatorStateDistribution, serializer: AnyStateSerializer<Element>, restored: [Element]) {
        self.name = name
        self.distribution = distribution
        self.serializer = serializer
        self.elements = restored
    }

    public func get() -> [Element] { elements }
    public func add(_ element: Element) { elements.append(element) }
    public func update(_ elements: [Element]) { self.elements = elements }
    public func clear() { elements = [] }

    func serializedEntries() throws -> [[UInt8]] {
        try elements.map { element in
            var writer = BinaryWriter(capacity: 32)
            try serializer.serialize(element, into: &writer)
            return writer.bytes
        }
    }
}

/// Something the store snapshots as a list of byte entries under a name.
protocol SnapshottableListState: AnyObject {
    var name: String { get }
    var distribution: OperatorStateDistribution { get }
    func serializedEntries() throws -> [[UInt8]]
}

extension OperatorListState: SnapshottableListState {}

/// The operator (non-keyed) list states of one operator subtask.
public final class OperatorStateStore {
    /// Restored entries for this subtask after redistribution: name -> (distribution, entries).
    private var restored: [String: (OperatorStateDistribution, [[UInt8]])]
    private var states: [String: any SnapshottableListState] = [:]
    private var order: [String] = []

    init(restored: [String: (OperatorStateDistribution, [[UInt8]])] = [:]) {
        self.restored = restored
    }


    public func listState<Element>(
        _ name: String, serializer: some StateSerializer<Element>, distribution: OperatorStateDistribution = .evenSplit
    ) throws -> OperatorListState<Element> {
        if let existing = states[name] {
            guard let typed = existing as? OperatorListState<Element> else {
                throw StateError.kindMismatch(name: name, registered: "list state of another type", requested: "list state of \(Element.self)")
            }
            return typed
        }
        let any = AnyStateSerializer(serializer)
        var elements: [Element] = []
        if let (_, entries) = restored.removeValue(forKey: name) {
            elements.reserveCapacity(entries.count)
            for entry in entries {
                var reader = BinaryReader(entry)
                elements.append(try any.deserialize(from: &reader))
            }
        }
        let state = OperatorListState(name: name, distribution: distribution, serializer: any, restored: elements)
        states[name] = state
        order.append(name)
        return state
    }

    /// Registers a state of another shape (e.g. broadcast state), made from its restored entries.
    func register<S: SnapshottableListState>(_ name: String, make: ([[UInt8]]) throws -> S) throws -> S {
        if let existing = states[name] {
            guard let typed = existing as? S else {
                throw StateError.kindMismatch(name: name, registered: "\(type(of: existing))", requested: "\(S.self)")
            }
            return typed
        }
        let state = try make(restored.removeValue(forKey: name)?.1 ?? [])
        states[name] = state
        order.append(name)
        return state
    }

    public func listState<Element: BinaryCodable>(
        _ name: String, _ type: Element.Type = Element.self, distribution: OperatorStateDistribution = .evenSplit
    ) throws -> OperatorListState<Element> {
        try listState(name, serializer: BinaryCodableSerializer<Element>(), distribution: distribution)
    }

    /// Blob: count, then per state: name, distribution, entry count, length-prefixed entries.
    /// Restored states that were never registered are carried over unchanged.
    func snapshot() throws -> [UInt8] {
        var writer = BinaryWriter(capacity: 256)
        writer.writeVarUInt(UInt64(order.count + restored.count))
        for name in order {
            guard let state = states[name] else { continue }
            writer.writeString(name)
            writer.writeUInt8(state.distribution.rawValue)
            let entries = try state.serializedEntries()
            writer.writeVarUInt(UInt64(entries.count))
            for entry in entries { writer.writeBytes(entry) }
        }
        for (name, (distribution, entries)) in restored.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name)
            writer.writeUInt8(distribution.rawValue)
            writer.writeVarUInt(UInt64(entries.count))
            for entry in entries { writer.writeBytes(entry) }
        }
        return writer.bytes
    }

    static func parse(_ blob: [UInt8]) throws -> [(name: String, distribution: OperatorStateDistribution, entries: [[UInt8]])] {
        guard !blob.isEmpty else { return [] }
        var reader = BinaryReader(blob)
        let count = try reader.readVarInt()
        var result: [(String, OperatorStateDistribution, [[UInt8]])] = []
        for _ in 0..<count {
            let name = try reader.readString()
            let raw = try reader.readUInt8()
            guard let distribution = OperatorStateDistribution(rawValue: raw) else {
                throw StateError.corruptSnapshot("operator state '\(name)' has unknown distribution \(raw)")
            }
            let n = try reader.readVarInt()
            var entries: [[UInt8]] = []
            entries.reserveCapacity(min(n, reader.remaining))
            for _ in 0..<n { entries.append(try reader.readBytes()) }
            result.append((name, distribution, entries))
        }
        return result
    }

    /// Redistributes the operator state blobs of all old subtasks (index = old subtask) to new
    /// subtask `index` of `parallelism`.
    static func redistribute(
        oldBlobs: [[UInt8]], parallelism: Int, index: Int
    ) throws -> [String: (OperatorStateDistribution, [[UInt8]])] {
        var perName: [String: (OperatorStateDistribution, [[[UInt8]]])] = [:]
        for (oldIndex, blob) in oldBlobs.enumerated() {
            for (name, distribution, entries) in try parse(blob) {
                var slot = perName[name] ?? (distribution, Array(repeating: [], count: oldBlobs.count))
                slot.1[oldIndex] = entries
                perName[name] = slot
            }
        }
        var result: [String: (OperatorStateDistribution, [[UInt8]])] = [:]
        for (name, (distribution, perOld)) in perName {
            switch distribution {
            case .union:
                result[name] = (distribution, perOld.flatMap { $0 })
            case .broadcast:
                result[name] = (distribution, perOld.isEmpty ? [] : perOld[index % perOld.count])
            case .evenSplit:
                if perOld.count == parallelism {
                    result[name] = (distribution, perOld[index])
                } else {
                    let all = perOld.flatMap { $0 }
                    let lower = all.count * index / parallelism
                    let upper = all.count * (index + 1) / parallelism
                    result[name] = (distribution, Array(all[lower..<upper]))
                }
            }
        }
        return result
    }
}
