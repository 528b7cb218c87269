import Foundation
import Testing
@testable import SluiceRuntime

/// A key type none of the specialised copies covers: exercises the generic code.
private struct Route: Hashable, Sendable, BinaryCodable, StableHashable {
    let path: String
    func encode(to writer: inout BinaryWriter) { writer.writeString(path) }
    init(_ path: String) { self.path = path }
    init(from reader: inout BinaryReader) throws { path = try reader.readString() }
}

private func heapBackend<Key: StateKey>(_ type: Key.Type, range: KeyGroupRange = KeyGroupRange(start: 0, end: 127)) -> HeapKeyedStateBackend<Key> {
    HeapKeyedStateBackend(keyGroupRange: range, maxParallelism: 128, keySerializer: AnyStateSerializer(BinaryCodableSerializer<Key>()))
}

/// The window operator's contents table: window start -> accumulator.
private func windowTable<Key: StateKey, Value: BinaryCodable>(
    in backend: HeapKeyedStateBackend<Key>, _ value: Value.Type, name: String = "window-contents"
) throws -> KeyedMapTable<Key, Int64, Value> {
    try KeyedMapTable.register(
        name, in: backend, mapKeySerializer: AnyStateSerializer(BinaryCodableSerializer<Int64>()),
        valueSerializer: AnyStateSerializer(BinaryCodableSerializer<Value>()))
}

private func mapState<Key: StateKey, Value: BinaryCodable>(
    in backend: HeapKeyedStateBackend<Key>, _ value: Value.Type, name: String = "window-contents"
) throws -> MapState<Int64, Value> {
    try backend.mapState(MapStateDescriptor<Int64, Value>(name))
}

@Suite struct KeyedMapTableTests {
    /// Counts per (key, window start) through `fold`, as the tumbling window operator does, and
    /// checks the result against a plain dictionary.
    private func foldCounts<Key: StateKey, Count: BinaryCodable & BinaryInteger>(
        keys: [Key], _ count: Count.Type
    ) throws -> (table: KeyedMapTable<Key, Int64, Count>, backend: HeapKeyedStateBackend<Key>) {
        let backend = heapBackend(Key.self)
        let table = try windowTable(in: backend, Count.self)
        var expected: [Key: [Int64: Count]] = [:]
        for (i, key) in keys.enumerated() {
            let start = Int64(i % 3) * 1000
            backend.setCurrentKey(key)
            let wasAbsent = table.fold(start) { ($0 ?? 0) + 1 }
            #expect(wasAbsent == (expected[key]?[start] == nil))
            expected[key, default: [:]][start, default: 0] += 1
        }
        for (key, windows) in expected {
            backend.setCurrentKey(key)
            #expect(table.entries == windows)
            for (start, count) in windows { #expect(table.get(start) == count) }
        }
        #expect(table.totalCount == expected.values.reduce(0) { $0 + $1.count })
        return (table, backend)
    }

    @Test func foldCountsPerKeyAndWindowForSpecialisedAndGenericTypes() throws {
        let pages = (0..<50).map { "/page-\($0 % 7)" }
        _ = try foldCounts(keys: pages, Int.self)
        _ = try foldCounts(keys: pages, Int64.self)
        _ = try foldCounts(keys: (0..<50).map { $0 % 7 }, Int.self)
        _ = try foldCounts(keys: (0..<50).map { Int64($0 % 7) }, Int64.self)
        _ = try foldCounts(keys: pages.map(Route.init), Int.self)  // generic code
        _ = try foldCounts(keys: pages, Int32.self)  // generic code
    }

    @Test func removeReturnsTheValueAndDropsEmptyKeys() throws {
        // "/a" in windows 0 and 1000, "/b" in window 2000.
        let (table, backend) = try foldCounts(keys: ["/a", "/a", "/b"], Int.self)
        backend.setCurrentKey("/a")
        #expect(table.remove(0) == 1)
        #expect(table.remove(1000) == 1)
        #expect(table.remove(1000) == nil)
        #expect(table.entries.isEmpty)
        #expect(table.totalCount == 1)
        backend.setCurrentKey("/b")
        #expect(table.remove(2000) == 1)
        #expect(table.totalCount == 0)
        for index in 0..<backend.keyGroupRange.count { #expect(table.isEmpty(keyGroupIndex: index)) }
    }

    @Test func withoutACurrentKeyNothingIsStored() throws {
        let backend = heapBackend(String.self)
        let table = try windowTable(in: backend, Int.self)
        #expect(table.fold(0) { ($0 ?? 0) + 1 } == false)
        #expect(table.get(0) == nil)
        #expect(table.totalCount == 0)
    }

    /// The table writes the map state's snapshot format: a snapshot of either restores into the
    /// other (checkpoints taken before the window operator used the table still restore, and
    /// the other way round), also split over two subtasks.
    @Test func snapshotsRestoreBetweenTheTableAndMapState() throws {
        let keys = (0..<300).map { "/page-\($0)" }
        func count(of key: String, start: Int64) -> Int { key.count * 10 + Int(start / 1000) }

        let written = heapBackend(String.self)
        let table = try windowTable(in: written, Int.self)
        for key in keys {
            written.setCurrentKey(key)
            for start: Int64 in [0, 1000] { _ = table.fold(start) { _ in count(of: key, start: start) } }
        }
        let fromTable = try written.snapshot()

        let legacy = heapBackend(String.self)
        let legacyState = try mapState(in: legacy, Int.self)
        for key in keys {
            legacy.setCurrentKey(key)
            for start: Int64 in [0, 1000] { legacyState.put(start, count(of: key, start: start)) }
        }
        let fromMapState = try legacy.snapshot()

        for range in [KeyGroupRange(start: 0, end: 63), KeyGroupRange(start: 64, end: 127)] {
            let intoMapState = heapBackend(String.self, range: range)
            try intoMapState.restore(from: [fromTable])
            let restoredState = try mapState(in: intoMapState, Int.self)
            let intoTable = heapBackend(String.self, range: range)
            try intoTable.restore(from: [fromMapState])
            let restoredTable = try windowTable(in: intoTable, Int.self)
            var owned = 0
            for key in keys where range.contains(KeyGroups.keyGroup(for: key, maxParallelism: 128)) {
                owned += 1
                intoMapState.setCurrentKey(key)
                intoTable.setCurrentKey(key)
                let expected: [Int64: Int] = [0: count(of: key, start: 0), 1000: count(of: key, start: 1000)]
                #expect(Dictionary(uniqueKeysWithValues: restoredState.entries().map { ($0.key, $0.value) }) == expected)
                #expect(restoredTable.entries == expected)
            }
            #expect(owned > 0)
            #expect(restoredTable.totalCount == 2 * owned)
        }
    }

    /// With one entry there is one byte order: the two snapshots are identical.
    @Test func aSingleEntrySnapshotIsByteForByteTheMapStates() throws {
        let viaTable = heapBackend(Int64.self)
        let table = try windowTable(in: viaTable, Int64.self)
        viaTable.setCurrentKey(42)
        _ = table.fold(15_000) { ($0 ?? 0) + 7 }
        let viaMapState = heapBackend(Int64.self)
        let state = try mapState(in: viaMapState, Int64.self)
        viaMapState.setCurrentKey(42)
        state.put(15_000, 7)
        #expect(try viaTable.snapshot() == viaMapState.snapshot())
    }
}

/// The tumbling window operator (the fast path) against snapshots of the map state it used before.
@Suite struct TumblingWindowSnapshotTests {
    private func countingHarness(restoring keyedState: [UInt8]? = nil) throws -> OperatorHarness<Click, WindowResult<String, Int>> {
        try OperatorHarness(restoring: keyedState) { clicks in
            clicks.keyBy { $0.page }.window(TumblingEventTimeWindows(sizeMillis: 1000)).count()
        }
    }

    @Test func theFastPathRunsTheCountAndCleansUp() throws {
        let harness = try countingHarness()
        #expect(harness.op is WindowOperator<String, Click, Int, Int>)
        for ts: Int64 in [10, 20, 1010] { try harness.element(Click(page: "/a", ts: ts), ts) }
        try harness.element(Click(page: "/b", ts: 30), 30)
        let op = try #require(harness.op as? WindowOperator<String, Click, Int, Int>)
        #expect(op.stateEntryCount == 3)
        try harness.watermark(2000)
        #expect(Set(harness.output.takeRecords()) == [
            WindowResult(key: "/a", window: TimeWindow(start: 0, end: 1000), value: 2),
            WindowResult(key: "/b", window: TimeWindow(start: 0, end: 1000), value: 1),
            WindowResult(key: "/a", window: TimeWindow(start: 1000, end: 2000), value: 1),
        ])
        #expect(op.stateEntryCount == 0)
    }

    /// Open windows in a snapshot of the fast path read back as the map state "window-contents",
    /// and a snapshot with that map state (and the window timers) restores into the fast path.
    @Test func openWindowsMoveBetweenTheFastPathAndMapState() throws {
        let harness = try countingHarness()
        for ts: Int64 in [10, 20, 1010] { try harness.element(Click(page: "/a", ts: ts), ts) }
        let fromFastPath = try harness.op.snapshotState(checkpointId: 1).keyedState

        let read = heapBackend(String.self)
        try read.restore(from: [fromFastPath])
        let contents = try mapState(in: read, Int.self)
        read.setCurrentKey("/a")
        #expect(Dictionary(uniqueKeysWithValues: contents.entries().map { ($0.key, $0.value) }) == [0: 2, 1000: 1])

        // The state as the map-state operator wrote it: contents, and the timers at window ends.
        let legacy = heapBackend(String.self)
        let keySerializer = AnyStateSerializer(BinaryCodableSerializer<String>())
        let timers = try legacy.registerTable("_timers_event", kind: .eventTimers) {
            TimerQueue<String>(name: "_timers_event", kind: .eventTimers, keyGroupCount: 128, keySerializer: keySerializer)
        }
        let legacyContents = try mapState(in: legacy, Int.self)
        for (page, start, count) in [("/a", Int64(0), 2), ("/a", 1000, 1), ("/b", 0, 5)] {
            legacy.setCurrentKey(page)
            legacyContents.put(start, count)
            timers.register(key: page, keyGroupIndex: legacy.context.index, timestamp: start + 999)
        }
        let restored = try countingHarness(restoring: try legacy.snapshot())
        try restored.element(Click(page: "/b", ts: 500), 500)
        try restored.watermark(2000)
        #expect(Set(restored.output.takeRecords()) == [
            WindowResult(key: "/a", window: TimeWindow(start: 0, end: 1000), value: 2),
            WindowResult(key: "/b", window: TimeWindow(start: 0, end: 1000), value: 6),
            WindowResult(key: "/a", window: TimeWindow(start: 1000, end: 2000), value: 1),
        ])
    }
}
