import Foundation
import Logging
import Testing
@testable import SluiceRuntime

/// A running count that takes a while per record, so its input channels fill up and barriers
/// have records to overtake.
final class SlowRunningCount: KeyedProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias Output = String
    private let inner = RunningCount()
    private let pauseMicros: UInt32

    init(pauseMicros: UInt32) { self.pauseMicros = pauseMicros }

    func open(_ context: KeyedContext<String>) throws { try inner.open(context) }

    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {
        usleep(pauseMicros)
        try inner.processElement(value, context: context, out: out)
    }
}

/// The counting job of the exactly-once tests behind a slow operator, with unaligned checkpoints.
struct BackpressuredCountingJob {
    let words: [String]
    let store = InMemoryTransactionalStore<String>()
    let directory = temporaryDirectory("unaligned")

    let pauseMicros: UInt32

    init(words: Int = 600, keys: Int = 7, pauseMicros: UInt32 = 400) {
        self.words = (0..<words).map { "k\($0 % keys)" }
        self.pauseMicros = pauseMicros
    }

    @discardableResult
    func run(faults: FaultInjector = .disabled, alignedTimeout: Duration = .zero) throws -> JobResult {
        var checkpointing = CheckpointConfig(directory: directory)
        checkpointing.unaligned = true
        checkpointing.alignedCheckpointTimeout = alignedTimeout
        let env = StreamExecutionEnvironment(testConfiguration(checkpointing: checkpointing, faults: faults))
        env.fromSource(CollectionSource(words, recordsPerPoll: 10, checkpointEvery: 60), name: "words")
            .keyBy { $0 }
            .process(name: "count", SlowRunningCount(pauseMicros: pauseMicros)).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: 2)
        return try env.execute()
    }

    var expected: [String] { runningCounts(of: words) }

    /// Checkpoints in the directory whose count operator stored records in flight.
    func checkpointsWithRecordsInFlight() -> [Int64] {
        let storage = FileSystemCheckpointStorage(directory: directory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int64? in
            guard name.hasPrefix("chk-"), let id = Int64(name.dropFirst(4)),
                  let metadata = try? storage.loadMetadata(id),
                  metadata.operatorState("count")?.subtasks.contains(where: { $0.inputChannelState != nil }) == true
            else { return nil }
            return id
        }.sorted()
    }
}

@Suite struct UnalignedCheckpointTests {
    @Test func cleanRunIsExactAndStoresRecordsInFlight() throws {
        let job = BackpressuredCountingJob()
        let result = try job.run()
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        // Barriers overtook queued records: some checkpoint holds them as channel state.
        #expect(!job.checkpointsWithRecordsInFlight().isEmpty)
    }

    /// With an aligned-checkpoint timeout, a checkpoint starts aligned and turns unaligned once the
    /// backlog before its barrier takes longer than the timeout to drain (here ~128 ms against 20 ms).
    @Test func anAlignedCheckpointTurnsUnalignedAfterItsTimeout() throws {
        let job = BackpressuredCountingJob(words: 300, pauseMicros: 2000)
        let faults = FaultInjector(point: .afterSnapshot, checkpointId: 3)
        #expect(throws: JobFailedError.self) { try job.run(faults: faults, alignedTimeout: .milliseconds(20)) }
        #expect(!job.checkpointsWithRecordsInFlight().isEmpty, "no checkpoint turned unaligned")
        try job.run(alignedTimeout: .milliseconds(20))
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// A timeout longer than any alignment here: every checkpoint stays aligned (no records in flight).
    @Test func checkpointsThatAlignWithinTheTimeoutStayAligned() throws {
        let job = BackpressuredCountingJob(words: 300, pauseMicros: 2000)
        try job.run(alignedTimeout: .seconds(60))
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.checkpointsWithRecordsInFlight().isEmpty)
    }

    /// Crash at every named point of checkpoint 3, restart from the directory: the channel state of
    /// the restored checkpoint is replayed, so nothing is lost or counted twice.
    @Test(arguments: CrashPoint.allCases)
    func crashAndRestartReplaysRecordsInFlight(point: CrashPoint) throws {
        let job = BackpressuredCountingJob()
        let faults = FaultInjector(point: point, checkpointId: 3)
        #expect(throws: JobFailedError.self) { try job.run(faults: faults) }
        #expect(faults.hasFired)
        let restoredFrom = try #require(FileSystemCheckpointStorage(directory: job.directory)
            .latestCompleted(logger: Logger(label: "test"))?.checkpointId)
        #expect(job.checkpointsWithRecordsInFlight().contains(restoredFrom),
                "checkpoint \(restoredFrom) holds no records in flight, so this run tests no replay")
        let result = try job.run()
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    @Test func channelStateRoundTripsAndRefusesAnUnknownFormat() throws {
        let records: [(String, Int64?)] = [("a", 1), ("b", nil), ("c", -7)]
        let bytes = try ChannelStateCoding.encode(records)
        let decoded = try ChannelStateCoding.decode(bytes, as: String.self)
        #expect(decoded.map(\.0) == ["a", "b", "c"])
        #expect(decoded.map(\.1) == [1, nil, -7])
        #expect(try ChannelStateCoding.encode([(String, Int64?)]()).isEmpty)
        var damaged = bytes
        damaged[0] = 99
        #expect(throws: StateSerializationError.self) { try ChannelStateCoding.decode(damaged, as: String.self) }
        #expect(!ChannelStateCoding.canEncode(NotCodable.self))
    }

    @Test func theGateReportsTheRecordsQueuedBeforeABarrier() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 4)
        gate.enableUnalignedCheckpoints(UnalignedCheckpointPolicy(alignedTimeoutMillis: 0, clock: SystemClock()))
        let barrier = CheckpointBarrier(checkpointId: 5, timestamp: 0, isFinal: false)
        try gate.push([.record(1, timestamp: nil), .record(2, timestamp: 10)], channel: 0)
        try gate.push([.watermark(3), .record(3, timestamp: nil), .barrier(barrier)], channel: 0)
        try gate.push([.record(4, timestamp: nil)], channel: 0)
        #expect(gate.hasOvertakingBarrier)
        #expect(gate.recordsQueued(before: 5, channel: 0)?.map(\.0) == [1, 2, 3])
        #expect(gate.recordsQueued(before: 5, channel: 1) == nil)
        // The overtaking barrier comes before any batch.
        guard case .overtakingBarrier(let first, channel: 0) = gate.next(until: .distantPast) else {
            Issue.record("the barrier did not overtake")
            return
        }
        #expect(first == barrier)
        gate.checkpointHandled(5)
        #expect(!gate.hasOvertakingBarrier)
        guard case .batch(0, let batch) = gate.next(until: .distantPast) else {
            Issue.record("the queued records are gone")
            return
        }
        #expect(batch.count == 2)
    }

    @Test func aSavepointBarrierNeverOvertakes() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 1, capacity: 4)
        gate.enableUnalignedCheckpoints(UnalignedCheckpointPolicy(alignedTimeoutMillis: 0, clock: SystemClock()))
        let savepoint = CheckpointBarrier(
            checkpointId: 2, timestamp: 0, isFinal: false, savepoint: SavepointTarget(path: "/tmp/x", stopsJob: false))
        try gate.push([.record(1, timestamp: nil), .barrier(savepoint)], channel: 0)
        #expect(!gate.hasOvertakingBarrier)
        guard case .batch = gate.next(until: .distantPast) else {
            Issue.record("a savepoint barrier overtook records")
            return
        }
    }

    @Test func unalignedNeedsExactlyOnceAndOneCheckpointAtATime() {
        var config = CheckpointConfig(maxConcurrentCheckpoints: 2)
        config.unaligned = true
        #expect(throws: RuntimeConfigurationError.self) { try config.validate() }
        config = CheckpointConfig(mode: .atLeastOnce)
        config.unaligned = true
        #expect(throws: RuntimeConfigurationError.self) { try config.validate() }
    }
}

private struct NotCodable: Sendable {}
