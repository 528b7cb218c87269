import Foundation
import Testing
@testable import SluiceRuntime

struct Point: Codable, Equatable, Sendable {
    let x: Int
    let label: String
}

@Suite struct StateTests {
    func backend(_ range: KeyGroupRange) -> HeapKeyedStateBackend<String> {
        HeapKeyedStateBackend(keyGroupRange: range, maxParallelism: 16, keySerializer: AnyStateSerializer(BinaryCodableSerializer<String>()))
    }

    @Test func keyedStatesSnapshotAndSplitOnRescale() throws {
        let full = backend(KeyGroupRange(start: 0, end: 15))
        let values = try full.valueState(ValueStateDescriptor<Int>("v"))
        let lists = try full.listState(ListStateDescriptor<String>("l"))
        let maps = try full.mapState(MapStateDescriptor<Int, Point>("m"))  // Codable fallback for values
        let keys = (0..<200).map { "key-\($0)" }
        for (i, key) in keys.enumerated() {
            full.setCurrentKey(key)
            values.update(i)
            lists.add("a\(i)")
            lists.add("b\(i)")
            maps.put(i, Point(x: i, label: key))
        }
        let blob = try full.snapshot()
        // Restore into two halves (rescale 1 -> 2): every key lands in exactly one half.
        let halves = [KeyGroupRange(start: 0, end: 7), KeyGroupRange(start: 8, end: 15)].map(backend)
        var found = 0
        for half in halves {
            try half.restore(from: [blob])
            let v = try half.valueState(ValueStateDescriptor<Int>("v"))
            let l = try half.listState(ListStateDescriptor<String>("l"))
            let m = try half.mapState(MapStateDescriptor<Int, Point>("m"))
            for (i, key) in keys.enumerated() where half.keyGroupRange.contains(KeyGroups.keyGroup(for: key, maxParallelism: 16)) {
                half.setCurrentKey(key)
                #expect(v.value() == i)
                #expect(l.get() == ["a\(i)", "b\(i)"])
                #expect(m.get(i) == Point(x: i, label: key))
                found += 1
            }
        }
        #expect(found == keys.count)
        // Registering a state under another kind is refused.
        #expect(throws: StateError.self) { try full.listState(ListStateDescriptor<Int>("v")) }
    }

    @Test func unregisteredRestoredStateIsCarriedOver() throws {
        let first = backend(KeyGroupRange(start: 0, end: 15))
        let values = try first.valueState(ValueStateDescriptor<String>("old"))
        first.setCurrentKey("k")
        values.update("kept")
        let second = backend(KeyGroupRange(start: 0, end: 15))
        try second.restore(from: [try first.snapshot()])
        let third = backend(KeyGroupRange(start: 0, end: 15))
        try third.restore(from: [try second.snapshot()])  // "old" never registered in `second`
        let restored = try third.valueState(ValueStateDescriptor<String>("old"))
        third.setCurrentKey("k")
        #expect(restored.value() == "kept")
    }

    @Test func operatorListStateEvenSplitAndUnion() throws {
        func blob(_ even: [Int], _ union: [Int]) throws -> [UInt8] {
            let store = OperatorStateStore()
            try store.listState("even", Int.self).update(even)
            try store.listState("union", Int.self, distribution: .union).update(union)
            return try store.snapshot()
        }
        let old = [try blob([1, 2, 3], [10]), try blob([4, 5, 6], [20])]
        func restored(_ parallelism: Int, _ index: Int) throws -> ([Int], [Int]) {
            let store = OperatorStateStore(restored: try OperatorStateStore.redistribute(oldBlobs: old, parallelism: parallelism, index: index))
            return (try store.listState("even", Int.self).get(), try store.listState("union", Int.self, distribution: .union).get())
        }
        #expect(try restored(2, 1) == ([4, 5, 6], [10, 20]))
        let three = try (0..<3).map { try restored(3, $0) }
        #expect(three.map(\.0) == [[1, 2], [3, 4], [5, 6]])
        #expect(three.allSatisfy { $0.1 == [10, 20] })
        #expect(try restored(1, 0).0 == [1, 2, 3, 4, 5, 6])
    }

    @Test func serializersRoundTrip() throws {
        func roundTrip<V>(_ value: V, _ serializer: AnyStateSerializer<V>) throws -> V {
            var writer = BinaryWriter()
            try serializer.serialize(value, into: &writer)
            var reader = BinaryReader(writer.bytes)
            let decoded = try serializer.deserialize(from: &reader)
            #expect(reader.isAtEnd)
            return decoded
        }
        #expect(try roundTrip(-42, .automatic()) == -42)
        #expect(try roundTrip("héllo", .automatic()) == "héllo")
        #expect(try roundTrip(3.5, .automatic()) == 3.5)
        #expect(try roundTrip(true, .automatic()) == true)
        #expect(try roundTrip([UInt8]([1, 2, 255]), .automatic()) == [1, 2, 255])
        #expect(try roundTrip(Data([7, 8]), .automatic()) == Data([7, 8]))
        #expect(try roundTrip(Optional<Int64>.none, .automatic()) == nil)
        #expect(try roundTrip(Point(x: 1, label: "p"), .automatic()) == Point(x: 1, label: "p"))
        #expect(throws: StateSerializationError.self) { _ = try AnyStateSerializer<NSObject>.automatic() }
        var reader = BinaryReader([0x80])
        #expect(throws: StateSerializationError.self) { _ = try reader.readVarUInt() }
    }

    @Test func crashPointFromEnvironment() throws {
        let injector = try FaultInjector.fromEnvironment(["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:3"])
        #expect(injector.point == .afterCheckpointCompleteBeforeCommit)
        #expect(injector.checkpointId == 3)
        #expect(try FaultInjector.fromEnvironment([:]).point == nil)
        #expect(throws: RuntimeConfigurationError.self) { try FaultInjector.fromEnvironment(["SLUICE_CRASH_AT": "nowhere:3"]) }
        // A throwing injector fires once, only at its point and checkpoint.
        let test = FaultInjector(point: .afterPreCommit, checkpointId: 2)
        try test.hit(.afterPreCommit, checkpointId: 1)
        try test.hit(.afterSnapshot, checkpointId: 2)
        #expect(throws: InjectedFault.self) { try test.hit(.afterPreCommit, checkpointId: 2) }
        try test.hit(.afterPreCommit, checkpointId: 2)
    }
}
