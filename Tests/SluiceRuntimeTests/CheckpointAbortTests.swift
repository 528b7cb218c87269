import Foundation
import Logging
import Synchronization
import Testing
@testable import SluiceRuntime

/// Wraps a storage: fails or blocks the state writes of one checkpoint, or (`fileInTheWay`) puts a
/// file where the folders of that checkpoint and every later one go, so the real storage's own
/// writes fail with the system's error.
final class FaultyStorage: CheckpointStorage {
    enum Mode: Sendable { case fail, block, fileInTheWay }
    let inner: FileSystemCheckpointStorage
    let checkpointId: Int64
    let mode: Mode
    let blocked = Flag()
    let release = Flag()

    init(directory: String, checkpointId: Int64, mode: Mode) {
        inner = FileSystemCheckpointStorage(directory: directory)
        self.checkpointId = checkpointId
        self.mode = mode
    }

    struct Failed: Error {}

    func writeState(checkpointId: Int64, name: String, blobs: [[UInt8]]) throws -> [StateHandle?] {
        if mode == .fileInTheWay, checkpointId >= self.checkpointId {
            _ = FileManager.default.createFile(atPath: inner.folder(checkpointId), contents: Data("in the way".utf8))
        }
        if checkpointId == self.checkpointId && name.hasPrefix("count") && mode != .fileInTheWay {
            switch mode {
            case .fail: throw Failed()
            case .block:
                blocked.set()
                _ = eventually { release.isSet }
            case .fileInTheWay:
                break
            }
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

@Suite struct CheckpointAbortTests {
    /// `tolerable`: checkpoint failures in a row the job survives (these tests abort one on purpose).
    func run(_ job: CountingJob, storage: any CheckpointStorage, clock: any RuntimeClock, metrics: TestMetrics,
             tolerable: Int = 1) throws -> JobResult {
        var configuration = testConfiguration(
            checkpointing: CheckpointConfig(timeout: .milliseconds(1000), retainedCheckpoints: 10, tolerableFailures: tolerable), clock: clock)
        configuration.checkpointStorage = storage
        configuration.metricsFactory = metrics
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        return try env.execute()
    }

    @Test func declinedCheckpointIsAbortedAndTheNextOneCommitsItsData() throws {
        let job = CountingJob()
        let storage = FaultyStorage(directory: job.directory, checkpointId: 2, mode: .fail)
        let metrics = TestMetrics()
        let result = try run(job, storage: storage, clock: SystemClock(), metrics: metrics)
        #expect(result.status == .finished)
        #expect(metrics.total("sluice_checkpoints_aborted_total") == 1)
        #expect(!FileManager.default.fileExists(atPath: storage.inner.metadataPath(2)))
        #expect(FileManager.default.fileExists(atPath: storage.inner.metadataPath(3)))
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }

    @Test func checkpointThatTimesOutIsAbortedAndTheJobGoesOn() throws {
        let job = CountingJob()
        let storage = FaultyStorage(directory: job.directory, checkpointId: 2, mode: .block)
        let metrics = TestMetrics()
        let clock = ManualClock()
        Thread {
            _ = eventually { storage.blocked.isSet }
            clock.advance(byMillis: 1000)
            _ = eventually { metrics.total("sluice_checkpoints_aborted_total") == 1 }
            storage.release.set()
        }.start()
        let result = try run(job, storage: storage, clock: clock, metrics: metrics)
        #expect(result.status == .finished)
        #expect(metrics.total("sluice_checkpoints_aborted_total") == 1)
        #expect(!FileManager.default.fileExists(atPath: storage.inner.metadataPath(2)))
        #expect(job.store.committedValues.sorted() == job.expected)
    }

    /// Issue 13.9: a checkpoint directory that cannot be written (here a file where a checkpoint's
    /// folder goes; root ignores read-only permissions) fails the job at the first failed checkpoint,
    /// with the storage error itself: path and errno. Nothing of the failed checkpoint is committed.
    @Test func aStorageFailureFailsTheJobNamingThePathAndTheSystemError() throws {
        let job = CountingJob()
        let storage = FaultyStorage(directory: job.directory, checkpointId: 2, mode: .fileInTheWay)
        let metrics = TestMetrics()
        let error = try #require(throws: JobFailedError.self) {
            try run(job, storage: storage, clock: SystemClock(), metrics: metrics, tolerable: 0)
        }
        let failure = try #require(error.underlying as? CheckpointFailuresExceeded, "\(error.underlying)")
        #expect(failure.checkpointId == 2)
        #expect(failure.consecutiveFailures == 1)
        #expect(failure.lastCompletedId == 1)
        let text = "\(failure)"
        #expect(text.contains("could not create directory '\(storage.inner.folder(2))': Not a directory (errno \(ENOTDIR))"), "\(text)")
        #expect(text.contains("--tolerable-checkpoint-failures") && text.contains("resumes from checkpoint 1"), "\(text)")
        #expect(!text.contains("producer"), "\(text)")
        // Only what checkpoint 1 covered was committed.
        #expect(job.store.committedValues.count < job.expected.count)
    }

    /// With N tolerable failures the job rides out N failed checkpoints in a row and fails at N + 1.
    @Test func tolerableCheckpointFailuresAreCountedInARow() throws {
        let job = CountingJob()
        let storage = FaultyStorage(directory: job.directory, checkpointId: 2, mode: .fileInTheWay)
        let metrics = TestMetrics()
        let error = try #require(throws: JobFailedError.self) {
            try run(job, storage: storage, clock: SystemClock(), metrics: metrics, tolerable: 2)
        }
        let failure = try #require(error.underlying as? CheckpointFailuresExceeded, "\(error.underlying)")
        #expect(failure.checkpointId == 4)
        #expect(failure.consecutiveFailures == 3)
        #expect(failure.tolerable == 2)
        #expect(metrics.total("sluice_checkpoints_aborted_total") == 3)
    }

    /// A damaged `_metadata` is read from its copy; with both damaged the restore is refused (an older
    /// checkpoint could repeat committed output) until the operator names the older one explicitly.
    @Test func corruptNewestCheckpointIsReadFromItsCopyOrRefused() throws {
        let job = CountingJob()
        #expect(throws: JobFailedError.self) {
            try job.run(faults: FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 4))
        }
        let storage = FileSystemCheckpointStorage(directory: job.directory)
        #expect(storage.latestCompleted(logger: Logger(label: "t"))?.checkpointId == 4)
        for name in [FileSystemCheckpointStorage.metadataName, FileSystemCheckpointStorage.metadataCopyName] {
            let path = "\(job.directory)/chk-4/\(name)"
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count - 1] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        #expect(throws: CheckpointStorageError.self) { try job.run() }

        // Named explicitly, 3 is restored: the prepared transactions of 4 are aborted and their input replayed.
        var configuration = testConfiguration(checkpointing: CheckpointConfig(directory: job.directory))
        configuration.restoreFrom = "\(job.directory)/chk-3"
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        try env.execute()
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
        // The damaged checkpoint is kept aside for inspection.
        let names = try FileManager.default.contentsOfDirectory(atPath: job.directory)
        #expect(names.contains { $0.hasPrefix("chk-4.unusable-") })
    }

    @Test func corruptNewestMetadataIsReadFromItsCopy() throws {
        let job = CountingJob()
        #expect(throws: JobFailedError.self) {
            try job.run(faults: FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: 4))
        }
        let path = FileSystemCheckpointStorage(directory: job.directory).metadataPath(4)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 1] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try job.run()
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(job.store.unfinishedTransactions.isEmpty)
    }
}
