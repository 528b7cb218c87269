import Foundation
import Synchronization
import Testing
@testable import SluiceRuntime

/// How far a `GatedSource` may read; the test raises it and waits for the reader to get there,
/// so a savepoint is taken at an exact position.
final class SourceGate: Sendable {
    let limit = Atomic<Int>(0)
    let position = Atomic<Int>(0)
    /// Readers opened so far (the job is running once this is positive).
    let readersOpened = Atomic<Int>(0)
    /// The last checkpoint a reader was notified of (the coordinator is done with it).
    let lastNotified = Atomic<Int64>(0)

    func open(to limit: Int) { self.limit.store(limit, ordering: .releasing) }

    /// Waits (state-based) until the reader emitted everything up to the limit.
    func waitUntilReached(_ target: Int) -> Bool { eventually { position.load(ordering: .acquiring) == target } }
}

/// A parallelism-1 source over an array that emits only up to its gate's limit and checkpoints
/// its position (the next index).
struct GatedSource<T: Sendable>: Source {
    let elements: [T]
    let gate: SourceGate

    func createReader(subtaskIndex: Int) throws -> GatedReader<T> { GatedReader(elements: elements, gate: gate) }
}

final class GatedReader<T: Sendable>: SourceReader {
    typealias Output = T
    let elements: [T]
    let gate: SourceGate
    private var next = 0

    init(elements: [T], gate: SourceGate) {
        self.elements = elements
        self.gate = gate
    }

    func open(_ context: SourceReaderContext) throws {
        for entry in context.restoredState {
            var reader = BinaryReader([UInt8](entry))
            next = try reader.readVarInt()
        }
        gate.position.store(next, ordering: .releasing)
        gate.readersOpened.add(1, ordering: .releasing)
    }

    func pollNext(_ output: SourceOutput<T>) throws -> SourceStatus {
        if next >= elements.count { return .endOfInput }
        let limit = min(gate.limit.load(ordering: .acquiring), elements.count)
        guard next < limit else { return .nothingAvailable }
        let end = min(limit, next + 8)
        while next < end {
            try output.collect(elements[next])
            next += 1
        }
        gate.position.store(next, ordering: .releasing)
        return .moreAvailable
    }

    func snapshotState(checkpointId: Int64) throws -> [Data] {
        var writer = BinaryWriter(capacity: 8)
        writer.writeVarInt(next)
        return [Data(writer.bytes)]
    }

    func notifyCheckpointComplete(_ checkpointId: Int64) throws {
        gate.lastNotified.store(checkpointId, ordering: .releasing)
    }
}

/// Runs a job (as `execute(restoreFrom:)` does) on a thread of its own; `result()` waits for it.
final class BackgroundJob: Sendable {
    private let outcome = Mutex<Result<JobResult, any Error>?>(nil)

    init(_ env: StreamExecutionEnvironment, restoreFrom: String? = nil) throws {
        let executor = try env.makeExecutor(restoreFrom: restoreFrom)
        Thread { [self] in
            let result = Result { try executor.run() }
            self.outcome.withLock { $0 = result }
        }.start()
    }

    func result() throws -> JobResult {
        guard eventually({ outcome.withLock { $0 != nil } }), let result = outcome.withLock({ $0 }) else {
            throw RuntimeConfigurationError.invalid("the job did not end")
        }
        return try result.get()
    }
}

/// Keyed running count over a gated source into a two-phase-commit sink.
struct SavepointCountJob {
    let words: [String]
    let store = InMemoryTransactionalStore<String>()
    let checkpoints = temporaryDirectory("sp-chk")
    let savepoints = temporaryDirectory("sp")

    init(words: Int = 600, keys: Int = 7) {
        self.words = (0..<words).map { "k\($0 % keys)" }
    }

    func environment(parallelism: Int, gate: SourceGate, checkpointing: CheckpointConfig? = nil) -> StreamExecutionEnvironment {
        let env = StreamExecutionEnvironment(testConfiguration(checkpointing: checkpointing ?? CheckpointConfig(directory: checkpoints)))
        env.fromSource(GatedSource(elements: words, gate: gate), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(parallelism)
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: parallelism)
        return env
    }

    /// Runs with `parallelism` (from `restoreFrom` if given) until the source reached `stopAt`,
    /// then stops with a savepoint; returns its path.
    func runAndStop(parallelism: Int, restoreFrom: String?, stopAt: Int) throws -> String {
        let gate = SourceGate()
        gate.open(to: stopAt)
        let env = environment(parallelism: parallelism, gate: gate)
        let job = try BackgroundJob(env, restoreFrom: restoreFrom)
        #expect(gate.waitUntilReached(stopAt))
        let path = try env.control.stopWithSavepoint(directory: savepoints)
        #expect(try job.result().status == .stoppedWithSavepoint(path))
        return path
    }

    func expected(_ range: Range<Int>) -> [String] {
        var counts: [String: Int] = [:]
        var out: [String] = []
        for (i, word) in words.enumerated() {
            counts[word, default: 0] += 1
            if range.contains(i) { out.append("\(word):\(counts[word] ?? 0)") }
        }
        return out.sorted()
    }
}

@Suite struct SavepointTests {
    /// Stop with a savepoint at 200 (parallelism 1), resume with 3 and stop at 400, resume with 2
    /// and finish: every running count exact, every record committed exactly once.
    @Test func stopAndResumeWithChangingParallelism() throws {
        let job = SavepointCountJob()
        let first = try job.runAndStop(parallelism: 1, restoreFrom: nil, stopAt: 200)
        // The stop committed everything before the savepoint, and nothing after it.
        #expect(job.store.committedValues.sorted() == job.expected(0..<200))
        #expect(job.store.unfinishedTransactions.isEmpty)
        let metadata = try FileSystemCheckpointStorage.openSnapshot(at: first).metadata
        #expect(metadata.kind == .savepoint)
        #expect(FileManager.default.fileExists(atPath: "\(first)/_metadata"))
        #expect(first.hasPrefix("\(job.savepoints)/savepoint-\(metadata.checkpointId)-"))

        let second = try job.runAndStop(parallelism: 3, restoreFrom: first, stopAt: 400)
        #expect(second != first)
        #expect(try FileSystemCheckpointStorage.openSnapshot(at: second).metadata.operatorState("count")?.parallelism == 3)
        #expect(job.store.committedValues.sorted() == job.expected(0..<400))

        let gate = SourceGate()
        gate.open(to: job.words.count)
        let result = try job.environment(parallelism: 2, gate: gate).execute(restoreFrom: "\(second)/_metadata")
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected(0..<job.words.count))
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// After stop-with-savepoint a plain start on the same checkpoint directory resumes from the
    /// savepoint, not from an older checkpoint (which would commit the records before the stop again).
    @Test func plainRestartAfterStopResumesFromTheSavepoint() throws {
        let job = SavepointCountJob()
        // No periodic checkpoint: the directory holds nothing newer than the savepoint.
        let checkpointing = CheckpointConfig(directory: job.checkpoints)
        let gate = SourceGate()
        gate.open(to: 200)
        let env = job.environment(parallelism: 2, gate: gate, checkpointing: checkpointing)
        let run = try BackgroundJob(env)
        #expect(gate.waitUntilReached(200))
        let savepoint = try env.control.stopWithSavepoint(directory: job.savepoints)
        #expect(try run.result().status == .stoppedWithSavepoint(savepoint))
        #expect(job.store.committedValues.sorted() == job.expected(0..<200))

        // A pointer to a savepoint that is gone is refused, not silently replaced by older state.
        let moved = "\(savepoint)-moved"
        try FileManager.default.moveItem(atPath: savepoint, toPath: moved)
        #expect(throws: CheckpointStorageError.self) {
            try job.environment(parallelism: 3, gate: SourceGate(), checkpointing: checkpointing).execute()
        }
        try FileManager.default.moveItem(atPath: moved, toPath: savepoint)

        let again = SourceGate()
        again.open(to: job.words.count)
        let result = try job.environment(parallelism: 3, gate: again, checkpointing: checkpointing).execute()
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected(0..<job.words.count))
    }

    /// A savepoint taken into the checkpoint directory itself survives the retention of
    /// checkpoints, commits nothing by itself, and restores the state it holds.
    @Test func savepointSurvivesRetentionAndRestores() throws {
        let job = SavepointCountJob()
        let gate = SourceGate()
        gate.open(to: 100)
        let env = job.environment(
            parallelism: 2, gate: gate, checkpointing: CheckpointConfig(interval: .milliseconds(1), retainedCheckpoints: 1, directory: job.checkpoints))
        let run = try BackgroundJob(env)
        #expect(gate.waitUntilReached(100))
        let savepoint = try env.control.triggerSavepoint(directory: job.checkpoints)
        gate.open(to: job.words.count)
        #expect(try run.result().status == .finished)
        let folders = try FileManager.default.contentsOfDirectory(atPath: job.checkpoints)
        #expect(folders.filter { $0.hasPrefix("chk-") }.count == 1)
        #expect(folders.contains((savepoint as NSString).lastPathComponent))
        #expect(job.store.committedValues.sorted() == job.expected(0..<job.words.count))

        // Resuming from the savepoint replays from position 100 with the counts it holds.
        let again = SourceGate()
        again.open(to: job.words.count)
        try job.environment(parallelism: 3, gate: again, checkpointing: CheckpointConfig(directory: temporaryDirectory("sp-other")))
            .execute(restoreFrom: savepoint)
        #expect(job.store.committedValues.sorted() == (job.expected(0..<job.words.count) + job.expected(100..<job.words.count)).sorted())
    }

    @Test func unknownFormatVersionIsRefused() throws {
        let job = SavepointCountJob(words: 50)
        let path = try job.runAndStop(parallelism: 1, restoreFrom: nil, stopAt: 20)
        let metadataURL = URL(fileURLWithPath: "\(path)/_metadata")
        var bytes = try [UInt8](Data(contentsOf: metadataURL))
        bytes[8] = 99  // the version follows the 8 magic bytes
        try Data(bytes).write(to: metadataURL)
        let gate = SourceGate()
        gate.open(to: 50)
        do {
            try job.environment(parallelism: 1, gate: gate).execute(restoreFrom: path)
            Issue.record("a savepoint of an unknown format version was accepted")
        } catch let error as CheckpointStorageError {
            guard case .unusableSnapshot(let refused, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(refused == path)
            #expect(reason.contains("version 99 is not supported"))
        }
        // Nothing ran: nothing beyond the stop was committed.
        #expect(job.store.committedValues.count == 20)
    }

    @Test func metadataCarriesItsKind() throws {
        let savepoint = CheckpointMetadata(checkpointId: 3, timestamp: 9, isFinal: false, kind: .savepoint, operators: [])
        #expect(try CheckpointMetadata.decode(savepoint.encoded()).kind == .savepoint)
        let checkpoint = CheckpointMetadata(checkpointId: 3, timestamp: 9, isFinal: false, operators: [])
        #expect(try CheckpointMetadata.decode(checkpoint.encoded()).kind == .checkpoint)
    }

    /// A stop-with-savepoint that fails (its folder cannot be created) throws, and the job keeps
    /// running: the sources resume and the job finishes with every record committed once.
    @Test func failedStopKeepsTheJobRunning() throws {
        let job = SavepointCountJob(words: 300)
        let gate = SourceGate()
        gate.open(to: 100)
        let env = job.environment(parallelism: 2, gate: gate)
        let run = try BackgroundJob(env)
        #expect(gate.waitUntilReached(100))
        do {
            _ = try env.control.stopWithSavepoint(directory: "/dev/null/not-a-directory")
            Issue.record("a savepoint into an impossible folder succeeded")
        } catch let error as SavepointError {
            guard case .aborted = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        gate.open(to: job.words.count)
        #expect(try run.result().status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected(0..<job.words.count))
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    /// A deeper pipeline (source -> map tasks -> window tasks) into a non-transactional sink: the
    /// stop reaches the window tasks as the end of their inputs without end-of-data, so no task
    /// derives a final watermark and only the windows complete before the stop are emitted.
    @Test func stopDoesNotFireWindowsDownstreamOfOtherTasks() throws {
        let clicks = (0..<300).map { Click(page: "/p\($0 % 3)", ts: Int64($0) * 10) }
        let output = CollectedValues<WindowResult<String, Int>>()
        let gate = SourceGate()
        gate.open(to: 125)
        let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(directory: temporaryDirectory("sp-deep"))))
        let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { c, _ in c.ts }
        env.fromSource(GatedSource(elements: clicks, gate: gate), name: "clicks", watermarkStrategy: strategy)
            .rebalance()
            .map(name: "copy") { $0 }.setParallelism(2)
            .keyBy { $0.page }
            .window(TumblingEventTimeWindows(sizeMillis: 500))
            .count(name: "count")
            .setParallelism(2)
            .sinkTo(CollectingSink(into: output), name: "out", parallelism: 2)
        let job = try BackgroundJob(env)
        #expect(gate.waitUntilReached(125))
        let savepoint = try env.control.stopWithSavepoint(directory: temporaryDirectory("sp-deep-save"))
        #expect(try job.result().status == .stoppedWithSavepoint(savepoint))
        #expect(output.values.count == 6)
        #expect(Set(output.values.map(\.window.end)) == [500, 1000])
    }

    /// Sinks restored from a savepoint learn the parallelism it was taken with.
    @Test func sinksGetThePreviousParallelism() throws {
        final class ParallelismRecorder: SinkWriter {
            let seen: CollectedValues<Int>
            init(_ seen: CollectedValues<Int>) { self.seen = seen }
            func open(_ context: SinkContext<Never>) throws { seen.append(contentsOf: [context.previousParallelism ?? 0]) }
            func write(_ value: Int, timestamp: Int64?) throws {}
            func flush() throws {}
        }
        let seen = CollectedValues<Int>()
        let elements = Array(0..<100)
        func environment(_ gate: SourceGate, parallelism: Int) -> StreamExecutionEnvironment {
            let env = StreamExecutionEnvironment(testConfiguration())
            env.fromSource(GatedSource(elements: elements, gate: gate), name: "numbers")
                .rebalance()
                .sinkTo(ParallelismRecorder(seen), name: "out", parallelism: parallelism)
            return env
        }
        let gate = SourceGate()
        gate.open(to: 40)
        let env = environment(gate, parallelism: 3)
        let job = try BackgroundJob(env)
        #expect(gate.waitUntilReached(40))
        let savepoint = try env.control.stopWithSavepoint(directory: temporaryDirectory("sp-par"))
        _ = try job.result()
        #expect(seen.values == [0, 0, 0])  // fresh start
        let resumed = SourceGate()
        resumed.open(to: elements.count)
        try environment(resumed, parallelism: 2).execute(restoreFrom: savepoint)
        #expect(seen.values == [0, 0, 0, 3, 3])
        #expect(resumed.position.load(ordering: .acquiring) == elements.count)
    }

    @Test func savepointNeedsARunningJob() {
        #expect(throws: SavepointError.jobNotRunning) { try JobControl().triggerSavepoint(directory: temporaryDirectory()) }
    }

    /// Stopping does not emit the final watermark: the open window is not fired by the stop, and
    /// the resumed job fires it with the full count.
    @Test func stopDoesNotFireOpenWindows() throws {
        let clicks = (0..<300).map { Click(page: "/p\($0 % 3)", ts: Int64($0) * 10) }
        let store = InMemoryTransactionalStore<WindowResult<String, Int>>()
        let checkpoints = temporaryDirectory("sp-win")
        func environment(_ gate: SourceGate, parallelism: Int) -> StreamExecutionEnvironment {
            let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(directory: checkpoints)))
            let strategy = WatermarkStrategy<Click>.boundedOutOfOrderness(0).withTimestampAssigner { c, _ in c.ts }
            env.fromSource(GatedSource(elements: clicks, gate: gate), name: "clicks", watermarkStrategy: strategy)
                .keyBy { $0.page }
                .window(TumblingEventTimeWindows(sizeMillis: 500))
                .count(name: "count")
                .setParallelism(parallelism)
                .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: parallelism)
            return env
        }
        func windows(endingBy end: Int64) -> Set<WindowResult<String, Int>> {
            var out: Set<WindowResult<String, Int>> = []
            for page in 0..<3 {
                for start in stride(from: Int64(0), to: end, by: 500) {
                    let count = clicks.filter { $0.page == "/p\(page)" && $0.ts >= start && $0.ts < start + 500 }.count
                    out.insert(WindowResult(key: "/p\(page)", window: TimeWindow(start: start, end: start + 500), value: count))
                }
            }
            return out
        }
        let gate = SourceGate()
        gate.open(to: 125)  // event time 1240: windows [0, 500) and [500, 1000) are complete
        let env = environment(gate, parallelism: 2)
        let job = try BackgroundJob(env)
        #expect(gate.waitUntilReached(125))
        let savepoint = try env.control.stopWithSavepoint(directory: temporaryDirectory("sp-win-save"))
        #expect(try job.result().status == .stoppedWithSavepoint(savepoint))
        #expect(store.committedValues.count == 6)
        #expect(Set(store.committedValues) == windows(endingBy: 1000))

        let resumed = SourceGate()
        resumed.open(to: clicks.count)
        #expect(try environment(resumed, parallelism: 3).execute(restoreFrom: savepoint).status == .finished)
        #expect(store.committedValues.count == 18)
        #expect(Set(store.committedValues) == windows(endingBy: 3000))
    }
}
