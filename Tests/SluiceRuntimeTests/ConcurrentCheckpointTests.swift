import Foundation
import Logging
import Synchronization
import Testing
@testable import SluiceRuntime

/// Wraps a file-system storage: records every state write (checkpoint id, task name) and holds the
/// writes of one checkpoint by tasks whose name starts with `holdPrefix` until `release` is set
/// (a slow acknowledgement).
final class HoldingStorage: CheckpointStorage {
    let inner: FileSystemCheckpointStorage
    let holdCheckpoint: Int64
    let holdPrefix: String
    let release = Flag()
    let held = Atomic<Int>(0)
    private let writes = Mutex<[(Int64, String)]>([])

    init(directory: String, holdCheckpoint: Int64, holdPrefix: String) {
        inner = FileSystemCheckpointStorage(directory: directory)
        self.holdCheckpoint = holdCheckpoint
        self.holdPrefix = holdPrefix
    }

    /// Whether a task whose name starts with `prefix` wrote state for checkpoint `id`.
    func wrote(_ id: Int64, _ prefix: String) -> Bool {
        writes.withLock { $0.contains { $0.0 == id && $0.1.hasPrefix(prefix) } }
    }

    func completed(_ id: Int64) -> Bool { FileManager.default.fileExists(atPath: inner.metadataPath(id)) }

    func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
        writes.withLock { $0.append((checkpointId, name)) }
        if checkpointId == holdCheckpoint && name.hasPrefix(holdPrefix) {
            held.add(1, ordering: .acquiringAndReleasing)
            _ = eventually { release.isSet }
        }
        return try inner.writeState(checkpointId: checkpointId, name: name, blobs: blobs)
    }
    func read(_ handle: StateHandle, checkpointId: Int64) throws -> [UInt8] { try inner.read(handle, checkpointId: checkpointId) }
    func commit(_ metadata: CheckpointMetadata) throws { try inner.commit(metadata) }
    func latestCompleted(logger: Logger) -> CheckpointMetadata? { inner.latestCompleted(logger: logger) }
    func discard(checkpointId: Int64) { inner.discard(checkpointId: checkpointId) }
    func retainLatest(_ count: Int, logger: Logger) { inner.retainLatest(count, logger: logger) }
    func removeNewer(than checkpointId: Int64?, logger: Logger) { inner.removeNewer(than: checkpointId, logger: logger) }
}

@Suite struct ConcurrentCheckpointConfigTests {
    @Test func moreThanOneIsAcceptedAndAMinimumPauseMeansOneAtATime() throws {
        try CheckpointConfig(interval: .milliseconds(10), maxConcurrentCheckpoints: 3).validate()
        #expect(CheckpointConfig(maxConcurrentCheckpoints: 3).effectiveMaxConcurrentCheckpoints == 3)
        #expect(CheckpointConfig(minPauseBetweenCheckpoints: .milliseconds(5), maxConcurrentCheckpoints: 3).effectiveMaxConcurrentCheckpoints == 1)
    }
}

/// Barrier handling with several checkpoints in flight on the same channels.
@Suite struct ConcurrentBarrierTests {
    func barrier(_ id: Int64) -> StreamElement<Int> { .barrier(CheckpointBarrier(checkpointId: id, timestamp: 0, isFinal: false)) }
    func record(_ value: Int) -> StreamElement<Int> { .record(value, timestamp: nil) }

    func drain(_ processor: InputProcessor<Int>, _ log: EventLog) throws {
        while try processor.processNext(delegate: log, deadline: nil, wait: false) == .processed {}
    }

    /// Barriers 1 and 2 follow each other on both channels. Exactly-once: channel 0 waits at
    /// barrier 1, then channel 1 completes 1 and waits at 2, then channel 0 completes 2; each
    /// snapshot holds exactly the records before its barrier on both channels. At-least-once:
    /// each id counts its own channels, so 1 is snapshotted although 2 arrived first on channel 0.
    @Test(arguments: [true, false])
    func consecutiveBarriersOnTheSameChannelSnapshotInOrder(aligned: Bool) throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let log = EventLog()
        let processor = InputProcessor(gate: gate, head: log, alignsBarriers: aligned)
        try gate.push([barrier(1), record(1), barrier(2), record(2)], channel: 0)
        try gate.push([record(3), barrier(1), record(4), barrier(2)], channel: 1)
        try drain(processor, log)
        #expect(log.events == (aligned
            ? ["record 3", "snapshot 1", "record 4", "record 1", "snapshot 2", "record 2"]
            : ["record 1", "record 2", "record 3", "snapshot 1", "record 4", "snapshot 2"]))
    }

    /// At-least-once: checkpoint 2 is aborted while 1 and 2 are both being counted; 1 must still
    /// complete, and 2's late barrier is dropped.
    @Test func abortingTheNewerCheckpointKeepsTheOlderOne() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let log = EventLog()
        let processor = InputProcessor(gate: gate, head: log, alignsBarriers: false)
        try gate.push([barrier(1), barrier(2)], channel: 0)
        try drain(processor, log)
        processor.abortCheckpoint(2)
        try gate.push([barrier(1), record(5), barrier(2), barrier(3)], channel: 1)
        try drain(processor, log)
        try gate.push([barrier(3)], channel: 0)
        try drain(processor, log)
        #expect(log.events == ["snapshot 1", "record 5", "snapshot 3"])
    }

    /// Exactly-once: channel 1's producer skipped checkpoint 1 (aborted upstream) and sends 2.
    /// The alignment of 1 is abandoned (declined, channel 0 unblocked) and 2 aligns instead.
    @Test func newerBarrierAbandonsTheOlderAlignment() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let log = EventLog()
        let processor = InputProcessor(gate: gate, head: log)
        try gate.push([barrier(1), record(1)], channel: 0)
        try drain(processor, log)
        #expect(log.events.isEmpty)
        try gate.push([barrier(2), record(2)], channel: 1)
        try drain(processor, log)
        #expect(log.events == ["abandon 1", "record 1"])
        try gate.push([barrier(2)], channel: 0)
        try drain(processor, log)
        #expect(log.events == ["abandon 1", "record 1", "snapshot 2", "record 2"])
    }

    /// At-least-once: channel 0 delivered 1 and 2; channel 1 ends, which completes both, in order.
    @Test func endedChannelCompletesEveryCountedCheckpointInOrder() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let log = EventLog()
        let processor = InputProcessor(gate: gate, head: log, alignsBarriers: false)
        try gate.push([barrier(1), barrier(2)], channel: 0)
        try drain(processor, log)
        try gate.push([.endOfPartition], channel: 1)
        try drain(processor, log)
        #expect(log.events == ["snapshot 1", "snapshot 2"])
    }
}

/// The coordinator alone, with one task whose inbox the test reads and whose acknowledgements
/// the test sends, on a manual clock.
@Suite struct ConcurrentCoordinatorTests {
    final class Harness: Sendable {
        let clock = ManualClock()
        let inbox = TaskInbox()
        let storage = InMemoryCheckpointStorage()
        let metrics = TestMetrics()
        let coordinator: CheckpointCoordinatorDriver
        let key = TaskKey(chain: 0, subtask: 0)
        let ended = Flag()
        private let mails = Mutex<[String]>([])

        init(_ config: CheckpointConfig) {
            coordinator = CheckpointCoordinatorDriver(
                config: config, storage: storage, clock: clock, logger: Logger(label: "test"),
                metrics: RuntimeMetrics(factory: metrics, jobName: "test"), faultInjector: .disabled, firstCheckpointId: 1,
                onFailure: { _ in })
            coordinator.register(
                tasks: [CoordinatedTask(key: key, inbox: inbox, isSource: true, commitsOnComplete: false)], vertices: [])
            Thread { [self] in
                coordinator.run()
                ended.set()
            }.start()
        }

        /// Every mail the task got so far, as text.
        var log: [String] {
            mails.withLock { log in
                for (mail, completion) in inbox.drainMail() {
                    switch mail {
                    case .triggerCheckpoint(let barrier): log.append("trigger \(barrier.checkpointId)")
                    case .notifyCheckpointComplete(let id): log.append("complete \(id)")
                    case .notifyCheckpointAborted(let id): log.append("aborted \(id)")
                    case .terminate: log.append("terminate")
                    }
                    completion?.complete(processed: true)
                }
                return log
            }
        }

        func ack(_ id: Int64) { coordinator.acknowledge(id, task: key, states: [:]) }

        func stop() {
            coordinator.stop()
            _ = eventually { ended.isSet }
        }
    }

    @Test func checkpointsOverlapCompleteInOrderAndTimeOutEachOnItsOwn() {
        let h = Harness(CheckpointConfig(interval: .milliseconds(10), timeout: .milliseconds(100), maxConcurrentCheckpoints: 2, tolerableFailures: 10))
        defer { h.stop() }
        h.clock.advance(byMillis: 10)  // t=10
        #expect(eventually { h.log == ["trigger 1"] })
        h.clock.advance(byMillis: 10)  // t=20: 1 is still pending, 2 starts anyway
        #expect(eventually { h.log == ["trigger 1", "trigger 2"] })
        #expect(h.coordinator.inFlight == [1, 2])
        h.clock.advance(byMillis: 10)  // t=30: two in flight, so no third
        usleep(50_000)  // lets a coordinator that ignored the limit trigger 3 (no assertion on time)
        #expect(h.log == ["trigger 1", "trigger 2"])
        // 2 completes first: 1 is subsumed, and the freed slot starts 3 (due since t=30).
        h.ack(2)
        #expect(eventually { h.log.count == 5 })
        #expect(h.log == ["trigger 1", "trigger 2", "aborted 1", "complete 2", "trigger 3"])
        #expect(h.coordinator.lastCompleted == 2)
        h.clock.advance(byMillis: 10)  // t=40
        #expect(eventually { h.log.last == "trigger 4" })
        h.ack(3)
        #expect(eventually { h.log.last == "complete 3" })
        h.clock.advance(byMillis: 95)  // t=135: 4 (started at 40) has not timed out yet; 5 starts
        #expect(eventually { h.log.last == "trigger 5" })
        h.clock.advance(byMillis: 10)  // t=145: 4 times out, 5 (started at 135) does not; 6 starts
        #expect(eventually { h.log.last == "trigger 6" })
        h.ack(5)
        h.ack(6)
        #expect(eventually { h.coordinator.lastCompleted == 6 })
        #expect(eventually { h.log.count == 12 })
        #expect(h.log == [
            "trigger 1", "trigger 2", "aborted 1", "complete 2", "trigger 3", "trigger 4", "complete 3",
            "trigger 5", "aborted 4", "trigger 6", "complete 5", "complete 6",
        ])
        #expect(h.metrics.total("sluice_checkpoints_aborted_total") == 2)
        #expect(h.storage.latestCompleted(logger: Logger(label: "test"))?.checkpointId == 6)
    }

    /// A savepoint waits until no checkpoint is in flight, and nothing starts while it is pending.
    @Test func savepointWaitsForCheckpointsInFlight() throws {
        let h = Harness(CheckpointConfig(interval: .milliseconds(10), maxConcurrentCheckpoints: 2))
        defer { h.stop() }
        h.clock.advance(byMillis: 10)
        #expect(eventually { h.log == ["trigger 1"] })
        let request = SavepointRequest(directory: temporaryDirectory("concurrent-sp"), stopsJob: false)
        h.coordinator.requestSavepoint(request)
        h.clock.advance(byMillis: 10)  // a periodic checkpoint is due but the savepoint is waiting
        usleep(50_000)
        #expect(h.log == ["trigger 1"])
        h.ack(1)
        #expect(eventually { h.log == ["trigger 1", "complete 1", "trigger 2"] })
        h.clock.advance(byMillis: 10)  // the savepoint (2) is pending: no periodic checkpoint
        usleep(50_000)
        #expect(h.log == ["trigger 1", "complete 1", "trigger 2"])
        h.ack(2)
        #expect(eventually { h.log.last == "trigger 3" })
        #expect(h.log == ["trigger 1", "complete 1", "trigger 2", "trigger 3"])  // a savepoint notifies nothing
    }
}

/// Whole jobs with several checkpoints in flight.
@Suite struct ConcurrentCheckpointJobTests {
    /// Gated source -> keyBy -> running count -> 2PC sink (count and sink chained, parallelism 2),
    /// on a manual clock with periodic checkpoints every 10 ms and at most 2 in flight.
    func start(_ storage: HoldingStorage, gate: SourceGate, words: [String], clock: ManualClock, store: InMemoryTransactionalStore<String>, timeoutMillis: Int64) throws -> BackgroundJob {
        var configuration = testConfiguration(
            checkpointing: CheckpointConfig(interval: .milliseconds(10), timeout: .milliseconds(timeoutMillis), retainedCheckpoints: 10, maxConcurrentCheckpoints: 2, tolerableFailures: 10),
            clock: clock)
        configuration.checkpointStorage = storage
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(GatedSource(elements: words, gate: gate), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: 2)
        return try BackgroundJob(env)
    }

    static func expected(_ words: [String]) -> [String] {
        var counts: [String: Int] = [:]
        return words.map { word in
            counts[word, default: 0] += 1
            return "\(word):\(counts[word] ?? 0)"
        }.sorted()
    }

    /// The sink's task holds its acknowledgement of checkpoint 1; checkpoint 2 is triggered at the
    /// interval anyway (the source snapshots it), a third is not (limit 2). Once released, both
    /// complete in order and everything is committed once.
    @Test func twoCheckpointsInFlightWithASlowSinkAcknowledgement() throws {
        let words = (0..<200).map { "k\($0 % 5)" }
        let storage = HoldingStorage(directory: temporaryDirectory("concurrent-slow"), holdCheckpoint: 1, holdPrefix: "count")
        let gate = SourceGate()
        let clock = ManualClock()
        let store = InMemoryTransactionalStore<String>()
        let job = try start(storage, gate: gate, words: words, clock: clock, store: store, timeoutMillis: 600_000)
        gate.open(to: 100)
        #expect(gate.waitUntilReached(100))
        clock.advance(byMillis: 10)  // t=10: checkpoint 1
        #expect(eventually { storage.held.load(ordering: .acquiring) == 2 })  // both count+sink tasks hold it
        gate.open(to: 108)
        #expect(gate.waitUntilReached(108))
        clock.advance(byMillis: 10)  // t=20: checkpoint 2 while 1 is pending
        #expect(eventually { storage.wrote(2, "words") })
        #expect(!storage.completed(1))  // observed: two checkpoints in flight at once
        clock.advance(byMillis: 10)  // t=30: the limit of 2 holds checkpoint 3 back
        usleep(50_000)  // lets a coordinator that ignored the limit trigger 3 (no assertion on time)
        #expect(!storage.wrote(3, "words"))
        #expect(store.committedValues.isEmpty)
        storage.release.set()
        #expect(eventually { storage.completed(2) })
        #expect(storage.completed(1))
        #expect(eventually { store.committedTransactions.filter { $0.hasSuffix("-2#1") }.count == 2 })
        #expect(store.committedValues.count == 108)
        let committed = store.committedTransactions
        #expect(committed.filter { $0.hasSuffix("-1#1") }.count == 2)
        #expect(committed.prefix(2).allSatisfy { $0.hasSuffix("-1#1") })  // 1 before 2
        gate.open(to: words.count)
        let result = try job.result()
        #expect(result.status == .finished)
        #expect(store.committedValues.sorted() == Self.expected(words))
        #expect(store.unfinishedTransactions.isEmpty)
    }

    /// Checkpoint 1 times out while the later checkpoint 2 is in flight; 2 completes and commits
    /// the records of 1's pre-committed transactions too, so nothing is lost or duplicated.
    @Test func timedOutCheckpointFollowedByACompletedOneCommitsEverythingOnce() throws {
        let words = (0..<200).map { "k\($0 % 5)" }
        let storage = HoldingStorage(directory: temporaryDirectory("concurrent-timeout"), holdCheckpoint: 1, holdPrefix: "count")
        let gate = SourceGate()
        let clock = ManualClock()
        let store = InMemoryTransactionalStore<String>()
        let job = try start(storage, gate: gate, words: words, clock: clock, store: store, timeoutMillis: 100)
        gate.open(to: 100)
        #expect(gate.waitUntilReached(100))
        clock.advance(byMillis: 10)  // t=10: checkpoint 1, held by the sink tasks
        #expect(eventually { storage.held.load(ordering: .acquiring) == 2 })
        gate.open(to: 108)
        #expect(gate.waitUntilReached(108))
        clock.advance(byMillis: 10)  // t=20: checkpoint 2
        #expect(eventually { storage.wrote(2, "words") })
        clock.advance(byMillis: 95)  // t=115: 1 (started at 10) times out; 2 (started at 20) does not
        // 3 can start only once 1 left the two slots, i.e. was aborted.
        #expect(eventually { storage.wrote(3, "words") })
        storage.release.set()
        #expect(eventually { storage.completed(2) })
        #expect(!storage.completed(1))
        // 2's notification commits the transactions pre-committed for 1 and for 2.
        #expect(eventually { store.committedTransactions.filter { $0.hasSuffix("-2#1") }.count == 2 })
        #expect(store.committedValues.count == 108)
        #expect(store.committedTransactions.filter { $0.hasSuffix("-1#1") }.count == 2)
        gate.open(to: words.count)
        let result = try job.result()
        #expect(result.status == .finished)
        #expect(store.committedValues.sorted() == Self.expected(words))
        #expect(store.unfinishedTransactions.isEmpty)
    }

    func runCounting(_ job: CountingJob, maxConcurrent: Int, faults: FaultInjector = .disabled, restart: RestartStrategy = .none) throws -> JobResult {
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(interval: .milliseconds(1), directory: job.directory, maxConcurrentCheckpoints: maxConcurrent),
            restart: restart, faults: faults))
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        return try env.execute()
    }

    /// Crash (the job fails) at every crash point of checkpoint 3 with up to 3 checkpoints in
    /// flight (a 1 ms interval on top of the source's own requests), then a new job on the same
    /// directory: every count is committed exactly once.
    @Test(arguments: CrashPoint.allCases)
    func exactlyOnceWithCrashAndThreeInFlight(point: CrashPoint) throws {
        let job = CountingJob()
        let faults = FaultInjector(point: point, checkpointId: 3)
        #expect(throws: JobFailedError.self) { try runCounting(job, maxConcurrent: 3, faults: faults) }
        #expect(faults.hasFired)
        let result = try runCounting(job, maxConcurrent: 3)
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// The same with an in-process restart and 2 in flight.
    @Test(arguments: CrashPoint.allCases)
    func exactlyOnceWithCrashAndRestartInProcess(point: CrashPoint) throws {
        let job = CountingJob()
        let faults = FaultInjector(point: point, checkpointId: 2)
        let result = try runCounting(job, maxConcurrent: 2, faults: faults, restart: .fixedDelay(attempts: 2, delay: .zero))
        #expect(faults.hasFired)
        #expect(result.restarts == 1)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// Incremental checkpoints of the on-disk backend with up to 3 in flight: each change log
    /// builds on the previous snapshot whether or not that one completes. Crash, restart, exact
    /// output, and retention leaves exactly the shared files the kept checkpoints reference.
    @Test func diskBackendWithThreeInFlightStaysExactlyOnce() throws {
        let job = CountingJob(words: 600, keys: 7)
        func run(crashAt: Int64?) throws {
            var config = testConfiguration(
                checkpointing: CheckpointConfig(interval: .milliseconds(1), directory: "\(job.directory)/checkpoints", maxConcurrentCheckpoints: 3),
                faults: crashAt.map { FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: $0) } ?? .disabled)
            config.stateBackend = .disk(directory: "\(job.directory)/work")
            let env = StreamExecutionEnvironment(config)
            env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
                .keyBy { $0 }
                .process(name: "count", RunningCount()).setParallelism(2)
                .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
            _ = try env.execute()
        }
        #expect(throws: JobFailedError.self) { try run(crashAt: 5) }
        try run(crashAt: nil)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
        let storage = FileSystemCheckpointStorage(directory: "\(job.directory)/checkpoints")
        let onDisk = Set((try? FileManager.default.contentsOfDirectory(atPath: storage.sharedDirectory)) ?? [])
        let referenced = Set(storage.checkpointIDs().compactMap { try? storage.loadMetadata($0) }.flatMap { $0.stateFiles.map(\.name) })
        #expect(!referenced.isEmpty)
        #expect(onDisk == referenced)
    }

    /// At-least-once with two input channels per task and up to 3 in flight: without failures
    /// every result is committed once.
    @Test func atLeastOnceWithThreeInFlightCompletes() throws {
        let job = CountingJob()
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(interval: .milliseconds(1), directory: job.directory, maxConcurrentCheckpoints: 3, mode: .atLeastOnce)))
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words", parallelism: 2)
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        let result = try env.execute()
        #expect(result.status == .finished)
        #expect((result.lastCompletedCheckpoint ?? 0) > 2)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }
}
