import Foundation
import Logging
import Metrics
import Testing
@testable import SluiceRuntime

/// An operator output that records what it was given (no threads, no channels).
final class ProbeOutput<T: Sendable>: Output<T> {
    var records: [T] = []
    override func collect(_ value: T, timestamp: Int64?) throws { records.append(value) }
}

/// Everything an operator subtask needs, for driving operators directly in unit tests.
/// `onDisk`: the on-disk keyed backend (a fresh working folder per operator), with snapshots in
/// `harnessStorage`.
func operatorSetup(
    clock: any RuntimeClock, restore: OperatorRestore? = nil, subtask: Int = 0, parallelism: Int = 1, maxParallelism: Int = 128,
    onDisk: Bool = false
) -> OperatorSetup {
    var logger = Logger(label: "sluice.test")
    logger.logLevel = .critical
    var services = TaskServices(requestCheckpoint: {}, firstCheckpointId: 1)
    if onDisk { services.stateBackend = .disk(directory: temporaryDirectory("harness-disk")) }
    services.snapshotStorage.storage = harnessStorage
    return OperatorSetup(
        operatorID: "op", subtaskIndex: subtask, parallelism: parallelism, maxParallelism: maxParallelism, logger: logger,
        metrics: RuntimeMetrics(factory: TestMetrics(), jobName: "test"), restore: restore, clock: clock,
        faultInjector: .disabled, services: services)
}

/// Where operators driven by the harness write (and restore) their state files.
let harnessStorage = InMemoryCheckpointStorage()

/// What subtask `index` of `parallelism` restores from the snapshots of all old subtasks.
func restoreFrom(_ snapshots: [OperatorSnapshot], parallelism: Int = 1, index: Int = 0) throws -> OperatorRestore {
    OperatorRestore(
        checkpointId: 1, previousParallelism: snapshots.count,
        operatorLists: try OperatorStateStore.redistribute(oldBlobs: snapshots.map(\.operatorState), parallelism: parallelism, index: index),
        keyedBlobs: snapshots.map(\.keyedState), storage: harnessStorage)
}

/// Hands its keyed context to the test, which then registers and uses states directly.
final class StateProbe: KeyedProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias Output = String
    var context: KeyedContext<String>?
    func open(_ context: KeyedContext<String>) throws { self.context = context }
    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {}
}

/// A keyed operator with a probe, driven without threads.
struct ProbedOperator {
    let op: KeyedProcessOperator<StateProbe>
    let context: KeyedContext<String>

    init(clock: any RuntimeClock, restore: OperatorRestore? = nil, onDisk: Bool = false) throws {
        let probe = StateProbe()
        op = try KeyedProcessOperator(
            setup: operatorSetup(clock: clock, restore: restore, onDisk: onDisk), output: ProbeOutput<String>(), keySelector: { $0 },
            function: probe)
        try op.open()
        context = try #require(probe.context)
    }

    func key(_ key: String) { op.backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 128)) }
    func snapshot() throws -> OperatorSnapshot { try op.snapshotState(checkpointId: 1) }
    /// The stored TTL entry of value state `name` for `key`, read around the TTL layer.
    func rawValue(_ name: String, _ key: String) throws -> TtlValue<Int>? {
        let raw = try op.backend.valueState(ValueStateDescriptor<TtlValue<Int>>(
            name, serializer: TtlValueSerializer(inner: AnyStateSerializer(BinaryCodableSerializer<Int>()))))
        self.key(key)
        return raw.value()
    }
}

/// Sum of Ints as an AggregateFunction with a (sum, count) accumulator; result is the average.
struct AverageInt: AggregateFunction {
    func createAccumulator() -> [Int] { [0, 0] }
    func add(_ value: Int, to accumulator: inout [Int]) {
        accumulator[0] += value
        accumulator[1] += 1
    }
    func result(_ accumulator: [Int]) -> Double { accumulator[1] == 0 ? 0 : Double(accumulator[0]) / Double(accumulator[1]) }
}

@Suite struct FoldingStateTests {
    @Test func reducingAndAggregatingStateFoldPerKeyAndClear() throws {
        let probed = try ProbedOperator(clock: ManualClock())
        let sum = try probed.context.reducingState(ReducingStateDescriptor<Int>("sum") { $0 + $1 })
        let avg = try probed.context.aggregatingState(AggregatingStateDescriptor("avg", function: AverageInt()))
        probed.key("a")
        #expect(sum.get() == nil)
        #expect(avg.get() == nil)
        for v in [1, 2, 3] {
            try sum.add(v)
            avg.add(v)
        }
        probed.key("b")
        try sum.add(10)
        avg.add(10)
        avg.add(20)
        probed.key("a")
        #expect(sum.get() == 6)
        #expect(avg.get() == 2.0)
        sum.clear()
        avg.clear()
        #expect(sum.get() == nil)
        #expect(avg.get() == nil)
        probed.key("b")
        #expect(sum.get() == 10)
        #expect(avg.get() == 15.0)
        // Stored as value states: the kind check applies to the name.
        #expect(throws: StateError.self) { try probed.context.listState(ListStateDescriptor<Int>("sum")) }
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func reducingAndAggregatingStateSurviveSnapshotAndRescale(onDisk: Bool) throws {
        let clock = ManualClock()
        let first = try ProbedOperator(clock: clock, onDisk: onDisk)
        let sum = try first.context.reducingState(ReducingStateDescriptor<Int>("sum") { $0 + $1 })
        let avg = try first.context.aggregatingState(AggregatingStateDescriptor("avg", function: AverageInt()))
        let keys = (0..<50).map { "k\($0)" }
        for (i, key) in keys.enumerated() {
            first.key(key)
            try sum.add(i)
            try sum.add(1)
            avg.add(i)
            avg.add(i + 2)
        }
        let snapshot = try first.snapshot()
        // Into two subtasks (parallelism 1 -> 2): each key is restored exactly once.
        var restoredKeys = 0
        for index in 0..<2 {
            let restore = try restoreFrom([snapshot], parallelism: 2, index: index)
            let probe = StateProbe()
            let op = try KeyedProcessOperator(
                setup: operatorSetup(clock: clock, restore: restore, subtask: index, parallelism: 2, onDisk: onDisk), output: ProbeOutput<String>(),
                keySelector: { $0 }, function: probe)
            try op.open()
            let context = try #require(probe.context)
            let sum2 = try context.reducingState(ReducingStateDescriptor<Int>("sum") { $0 + $1 })
            let avg2 = try context.aggregatingState(AggregatingStateDescriptor("avg", function: AverageInt()))
            for (i, key) in keys.enumerated() where op.backend.keyGroupRange.contains(KeyGroups.keyGroup(for: key, maxParallelism: 128)) {
                op.backend.setCurrentKey(key, keyGroup: KeyGroups.keyGroup(for: key, maxParallelism: 128))
                #expect(sum2.get() == i + 1)
                #expect(avg2.get() == Double(i + 1))
                restoredKeys += 1
            }
        }
        #expect(restoredKeys == keys.count)
    }
}

@Suite struct StateTtlTests {
    let ttl100 = StateTtlConfig(ttlMillis: 100)

    @Test func valueExpiresAtExactClockValueOnCreateAndWrite() throws {
        let clock = ManualClock(startMillis: 1000)
        let probed = try ProbedOperator(clock: clock)
        let value = try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(ttl100))
        probed.key("a")
        value.update(1)
        clock.set(millis: 1050)
        #expect(value.value() == 1)  // a read does not extend the TTL with onCreateAndWrite
        clock.set(millis: 1099)
        #expect(value.value() == 1)
        clock.set(millis: 1100)
        #expect(value.value() == nil)
        // Removed when read: nothing is stored any more.
        #expect(try probed.rawValue("v", "a") == nil)
        // A write starts a new lifetime.
        probed.key("a")
        value.update(2)
        clock.set(millis: 1150)
        value.update(3)
        clock.set(millis: 1249)
        #expect(value.value() == 3)
        clock.set(millis: 1250)
        #expect(value.value() == nil)
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func valueReadExtendsLifetimeOnReadAndWrite(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 1000)
        let probed = try ProbedOperator(clock: clock, onDisk: onDisk)
        let config = StateTtlConfig(ttlMillis: 100, updateType: .onReadAndWrite)
        let value = try probed.context.state(ValueStateDescriptor<String>("v").withTimeToLive(config))
        probed.key("a")
        value.update("x")
        clock.set(millis: 1090)
        #expect(value.value() == "x")  // lives until 1190 now
        clock.set(millis: 1189)
        #expect(value.value() == "x")  // and now until 1289
        clock.set(millis: 1288)
        #expect(value.value() == "x")
        clock.set(millis: 1388)
        #expect(value.value() == nil)
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func listAndMapExpirePerElement(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 0)
        let probed = try ProbedOperator(clock: clock, onDisk: onDisk)
        let list = try probed.context.listState(ListStateDescriptor<Int>("l").withTimeToLive(ttl100))
        let map = try probed.context.mapState(MapStateDescriptor<String, Int>("m").withTimeToLive(ttl100))
        probed.key("a")
        list.add(1)
        map.put("x", 1)
        clock.set(millis: 50)
        list.add(2)
        map.put("y", 2)
        clock.set(millis: 99)
        #expect(list.get() == [1, 2])
        #expect(map.get("x") == 1)
        clock.set(millis: 100)
        #expect(list.get() == [2])
        #expect(map.get("x") == nil)
        #expect(!map.contains("x"))
        #expect(map.entries().map(\.key) == ["y"])
        #expect(!map.isEmpty)
        clock.set(millis: 150)
        #expect(list.get() == [])
        #expect(map.entries().isEmpty)
        #expect(map.isEmpty)
        // update() stamps every element with the current time.
        list.update([7, 8])
        clock.set(millis: 249)
        #expect(list.get() == [7, 8])
        clock.set(millis: 250)
        #expect(list.get() == [])
    }

    @Test func reducingAndAggregatingStateExpire() throws {
        let clock = ManualClock(startMillis: 0)
        let probed = try ProbedOperator(clock: clock)
        let sum = try probed.context.reducingState(ReducingStateDescriptor<Int>("sum") { $0 + $1 }.withTimeToLive(ttl100))
        let avg = try probed.context.aggregatingState(AggregatingStateDescriptor("avg", function: AverageInt()).withTimeToLive(ttl100))
        probed.key("a")
        try sum.add(5)
        avg.add(4)
        clock.set(millis: 60)
        try sum.add(5)  // a write: lives until 160
        avg.add(8)
        clock.set(millis: 159)
        #expect(sum.get() == 10)
        #expect(avg.get() == 6.0)
        clock.set(millis: 160)
        #expect(sum.get() == nil)
        #expect(avg.get() == nil)
        try sum.add(1)  // starts from nothing again
        #expect(sum.get() == 1)
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func clearWorksOnEveryKindWithTtl(onDisk: Bool) throws {
        let probed = try ProbedOperator(clock: ManualClock(), onDisk: onDisk)
        let value = try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(ttl100))
        let list = try probed.context.listState(ListStateDescriptor<Int>("l").withTimeToLive(ttl100))
        let map = try probed.context.mapState(MapStateDescriptor<Int, Int>("m").withTimeToLive(ttl100))
        let sum = try probed.context.reducingState(ReducingStateDescriptor<Int>("r") { $0 + $1 }.withTimeToLive(ttl100))
        let avg = try probed.context.aggregatingState(AggregatingStateDescriptor("a", function: AverageInt()).withTimeToLive(ttl100))
        for key in ["k1", "k2"] {
            probed.key(key)
            value.update(1)
            list.add(1)
            map.put(1, 1)
            try sum.add(1)
            avg.add(1)
        }
        probed.key("k1")
        value.clear()
        list.clear()
        map.clear()
        sum.clear()
        avg.clear()
        #expect(value.value() == nil)
        #expect(list.get() == [])
        #expect(map.isEmpty)
        #expect(sum.get() == nil)
        #expect(avg.get() == nil)
        probed.key("k2")  // other keys keep their entries
        #expect(value.value() == 1)
        #expect(list.get() == [1])
        #expect(map.get(1) == 1)
        #expect(sum.get() == 1)
        #expect(avg.get() == 1.0)
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func expiredEntriesAreRemovedBeforeSnapshotWithoutBeingRead(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 0)
        let probed = try ProbedOperator(clock: clock, onDisk: onDisk)
        let value = try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(ttl100))
        let list = try probed.context.listState(ListStateDescriptor<Int>("l").withTimeToLive(ttl100))
        for i in 0..<20 {
            probed.key("old-\(i)")
            value.update(i)
            list.add(i)
        }
        clock.set(millis: 60)
        probed.key("young")
        value.update(99)
        list.add(99)
        #expect(probed.op.ttl.queuedChecks == 42)
        clock.set(millis: 100)  // the 20 "old" keys expired; "young" lives until 160
        let snapshot = try probed.snapshot()
        #expect(probed.op.ttl.queuedChecks == 2)  // only "young" remains queued (value + list)
        #expect(try probed.rawValue("v", "old-3") == nil)
        #expect(try probed.rawValue("v", "young")?.value == 99)

        // The snapshot holds only "young": a backend restored from it sees nothing else, even
        // read around the TTL layer.
        let restored = try ProbedOperator(clock: ManualClock(startMillis: 0), restore: try restoreFrom([snapshot]), onDisk: onDisk)
        #expect(try restored.rawValue("v", "old-3") == nil)
        #expect(try restored.rawValue("v", "young") == TtlValue(value: 99, timestamp: 60))
        let rawList = try restored.op.backend.listState(ListStateDescriptor<TtlValue<Int>>(
            "l", serializer: TtlValueSerializer(inner: AnyStateSerializer(BinaryCodableSerializer<Int>()))))
        restored.key("old-3")
        #expect(rawList.get().isEmpty)
        restored.key("young")
        #expect(rawList.get().map(\.value) == [99])
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func incrementalCleanupRemovesDueKeysAsRecordsArrive(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 0)
        let probed = try ProbedOperator(clock: clock, onDisk: onDisk)
        let config = StateTtlConfig(ttlMillis: 100, incrementalCleanupSize: 3)
        let value = try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(config))
        for i in 0..<7 {
            probed.key("k\(i)")
            value.update(i)
        }
        clock.set(millis: 200)
        try probed.op.processElement("other", timestamp: nil)  // checks 3 due keys
        #expect(probed.op.ttl.queuedChecks == 4)
        try probed.op.processElement("other", timestamp: nil)
        try probed.op.processElement("other", timestamp: nil)
        #expect(probed.op.ttl.queuedChecks == 0)
        for i in 0..<7 { #expect(try probed.rawValue("v", "k\(i)") == nil) }
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func aRefreshedEntryIsRequeuedNotRemoved(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 0)
        let probed = try ProbedOperator(clock: clock, onDisk: onDisk)
        let value = try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(ttl100))
        probed.key("a")
        value.update(1)
        clock.set(millis: 80)
        value.update(2)  // lives until 180; the queued check at 100 must not remove it
        clock.set(millis: 100)
        _ = try probed.snapshot()
        #expect(try probed.rawValue("v", "a")?.value == 2)
        #expect(probed.op.ttl.queuedChecks == 1)  // re-queued at 180
        clock.set(millis: 180)
        _ = try probed.snapshot()
        #expect(try probed.rawValue("v", "a") == nil)
        #expect(probed.op.ttl.queuedChecks == 0)
    }

    /// On the heap and the on-disk backend.
    @Test(arguments: [false, true]) func ttlTimestampsSurviveRestore(onDisk: Bool) throws {
        let clock = ManualClock(startMillis: 1000)
        let first = try ProbedOperator(clock: clock, onDisk: onDisk)
        let descriptor = MapStateDescriptor<String, Int>("m").withTimeToLive(ttl100)
        let map = try first.context.mapState(descriptor)
        first.key("a")
        map.put("x", 1)
        clock.set(millis: 1040)
        map.put("y", 2)
        clock.set(millis: 1050)
        let snapshot = try first.snapshot()

        let later = ManualClock(startMillis: 1099)
        let second = try ProbedOperator(clock: later, restore: try restoreFrom([snapshot]), onDisk: onDisk)
        let restored = try second.context.mapState(descriptor)
        second.key("a")
        #expect(restored.get("x") == 1)
        later.set(millis: 1100)
        #expect(restored.get("x") == nil)
        #expect(restored.get("y") == 2)
        later.set(millis: 1140)
        #expect(restored.isEmpty)
        // The expiry queue was restored too: a cleanup pass finds nothing left to check.
        _ = try second.snapshot()
        #expect(second.op.ttl.queuedChecks == 0)
    }

    @Test func ttlStateCannotReuseANonTtlName() throws {
        let probed = try ProbedOperator(clock: ManualClock())
        _ = try probed.context.state(ValueStateDescriptor<Int>("v"))
        #expect(throws: StateError.self) { try probed.context.state(ValueStateDescriptor<Int>("v").withTimeToLive(ttl100)) }
    }
}

extension TtlValue: Equatable where Value: Equatable {
    public static func == (a: Self, b: Self) -> Bool { a.value == b.value && a.timestamp == b.timestamp }
}

/// Emits a word unless it was seen within the TTL (a value state with TTL per word).
final class TtlDeduplicator: KeyedProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias Output = String
    private var seen: ValueState<Bool>?

    func open(_ context: KeyedContext<String>) throws {
        seen = try context.state(ValueStateDescriptor<Bool>("seen").withTimeToLive(StateTtlConfig(ttlMillis: 1000)))
    }

    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {
        guard seen?.value() == nil else { return }
        seen?.update(true)
        try out.collect(value)
    }
}

@Suite struct StateTtlJobTests {
    /// TTL on the job's injected clock, across a stop-with-savepoint and a resume.
    @Test func deduplicationWindowFollowsTheJobClockAcrossASavepoint() throws {
        let words = ["a", "b", "a", "c", "b"] + ["a", "m"] + ["a", "b", "c", "d", "m"]
        let out = CollectedValues<String>()
        let savepoints = temporaryDirectory("ttl-sp")
        let clock = ManualClock(startMillis: 0)
        func environment(_ gate: SourceGate) -> StreamExecutionEnvironment {
            let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(directory: temporaryDirectory("ttl-chk")), clock: clock))
            env.fromSource(GatedSource(elements: words, gate: gate), name: "words")
                .keyBy { $0 }
                .process(name: "dedup", TtlDeduplicator())
                .sinkTo(CollectingSink(into: out), name: "sink")
            return env
        }
        let gate = SourceGate()
        let env = environment(gate)
        let job = try BackgroundJob(env)
        gate.open(to: 5)  // at t = 0
        #expect(eventually { out.count == 3 })
        clock.set(millis: 999)
        gate.open(to: 7)  // "a" is still seen (expires at 1000); "m" is new
        #expect(eventually { out.count == 4 })
        let path = try env.control.stopWithSavepoint(directory: savepoints)
        #expect(try job.result().status == .stoppedWithSavepoint(path))

        clock.set(millis: 1000)  // a, b, c expired; m (seen at 999) lives until 1999
        let resumed = SourceGate()
        resumed.open(to: words.count)
        #expect(try environment(resumed).execute(restoreFrom: path).status == .finished)
        #expect(out.values == ["a", "b", "c", "m", "a", "b", "c", "d"])
    }
}
