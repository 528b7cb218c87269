import Foundation
import Testing
@testable import SluiceRuntime

/// The job of the exactly-once tests: collection source -> keyBy -> running count -> 2PC sink.
struct CountingJob {
    let words: [String]
    let store: InMemoryTransactionalStore<String>
    let directory: String

    init(words: Int = 400, keys: Int = 5) {
        self.words = (0..<words).map { "k\($0 % keys)" }
        store = InMemoryTransactionalStore()
        directory = temporaryDirectory("eo")
    }

    @discardableResult
    func run(faults: FaultInjector = .disabled, restart: RestartStrategy = .none, countParallelism: Int = 2) throws -> JobResult {
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(directory: directory), restart: restart, faults: faults))
        env.fromSource(CollectionSource(words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(countParallelism)
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: countParallelism)
        return try env.execute()
    }

    var expected: [String] { runningCounts(of: words) }
}

/// What `RunningCount` writes for `words`, sorted: "word:n" for the n-th time each word is seen.
func runningCounts(of words: [String]) -> [String] {
    var counts: [String: Int] = [:]
    return words.map { word in
        counts[word, default: 0] += 1
        return "\(word):\(counts[word] ?? 0)"
    }.sorted()
}

@Suite struct ExactlyOnceTests {
    @Test func cleanRunCommitsEverythingOnce() throws {
        let job = CountingJob()
        let result = try job.run()
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// Crash (an injected fault fails the whole job), then start a new job on the same checkpoint
    /// directory, as a restarted process would.
    @Test(arguments: CrashPoint.allCases)
    func crashAndRestartFromDirectory(point: CrashPoint) throws {
        let job = CountingJob()
        let faults = FaultInjector(point: point, checkpointId: 3)
        #expect(throws: JobFailedError.self) { try job.run(faults: faults) }
        #expect(faults.hasFired)
        // Checkpoints 1 and 2 were committed before the crash; the rest was not.
        let partial = job.store.committedValues.count
        #expect(partial > 0 && partial < job.words.count)
        let result = try job.run()
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// The same crash with an in-process restart (fixed-delay strategy).
    @Test(arguments: CrashPoint.allCases)
    func crashAndRestartInProcess(point: CrashPoint) throws {
        let job = CountingJob()
        let faults = FaultInjector(point: point, checkpointId: 2)
        let result = try job.run(faults: faults, restart: .fixedDelay(attempts: 2, delay: .zero))
        #expect(faults.hasFired)
        #expect(result.restarts == 1)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// Crash with parallelism 2, restore with parallelism 3: keyed state moves by key group, the
    /// sink's pending committables are split, and leftovers of old subtasks are aborted.
    @Test func crashAndRescale() throws {
        let job = CountingJob(words: 600, keys: 11)
        #expect(throws: JobFailedError.self) {
            try job.run(faults: FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 4))
        }
        try job.run(countParallelism: 3)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    @Test func restartStrategyGivesUpAfterMaxAttempts() throws {
        let attempts = CollectedValues<Int>()
        let env = StreamExecutionEnvironment(testConfiguration(restart: .fixedDelay(attempts: 2, delay: .milliseconds(1))))
        env.fromSource(CollectionSource([1, 2, 3], onEmit: { index in
            if index == 1 {
                attempts.append(contentsOf: [1])
                throw InjectedFault(point: .afterSnapshot, checkpointId: 0)
            }
        }), name: "failing")
            .sinkTo(CollectingSink(into: CollectedValues<Int>()))
        do {
            try env.execute()
            Issue.record("the job did not fail")
        } catch let error as JobFailedError {
            #expect(error.restarts == 2)
        }
        #expect(attempts.count == 3)
    }

    @Test func cancelFromAnotherThreadAbortsOpenTransaction() throws {
        let store = InMemoryTransactionalStore<Int>()
        let env = StreamExecutionEnvironment(testConfiguration())
        env.fromSource(CollectionSource(Array(0..<100), endless: true), name: "endless")
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink")
        let control = env.control
        Thread {
            _ = eventually { !store.unfinishedTransactions.isEmpty }
            control.cancel()
        }.start()
        let result = try env.execute()
        #expect(result.status == .cancelled)
        #expect(store.unfinishedTransactions.isEmpty)
        #expect(store.committedValues.isEmpty)
    }
}

@Suite struct WindowRecoveryTests {
    /// Window contents and event-time timers are keyed state: a crash mid-stream and a restart
    /// from the checkpoint directory still commit every window exactly once.
    @Test(arguments: [CrashPoint.afterPreCommit, .afterCheckpointCompleteBeforeCommit])
    func windowsSurviveACrash(point: CrashPoint) throws {
        let clicks = (0..<300).map { Click(page: "/p\($0 % 3)", ts: Int64($0) * 10) }
        let store = InMemoryTransactionalStore<WindowResult<String, Int>>()
        let directory = temporaryDirectory("windows")
        func run(_ faults: FaultInjector) throws {
            let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(directory: directory), faults: faults))
            let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(50).withTimestampAssigner { c, _ in c.ts }
            env.fromSource(CollectionSource(clicks, recordsPerPoll: 5, checkpointEvery: 40), name: "clicks", watermarkStrategy: strategy)
                .keyBy { $0.page }
                .window(TumblingEventTimeWindows(sizeMillis: 500))
                .count(name: "count")
                .setParallelism(2)
                .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: 2)
            try env.execute()
        }
        #expect(throws: JobFailedError.self) { try run(FaultInjector(point: point, checkpointId: 3)) }
        try run(.disabled)
        var expected: [WindowResult<String, Int>] = []
        for page in 0..<3 {
            for start in stride(from: Int64(0), to: 3000, by: 500) {
                expected.append(WindowResult(key: "/p\(page)", window: TimeWindow(start: start, end: start + 500), value: clicks.filter {
                    $0.page == "/p\(page)" && $0.ts >= start && $0.ts < start + 500
                }.count))
            }
        }
        let committed = store.committedValues
        #expect(committed.count == expected.count)
        #expect(Set(committed) == Set(expected))
    }
}
