import Foundation
import Testing
@testable import SluiceRuntime

/// A job owns its checkpoint directory while it runs, and exactly-once output needs checkpoints
/// that outlive the process (issue 13, points 1 and 3).
@Suite struct CheckpointOwnershipTests {
    func job(
        directory: String?, inMemoryAccepted: Bool = false, prefix: String? = nil, allowPrefixChange: Bool = false,
        workers: WorkerLayout = .single, store: InMemoryTransactionalStore<Int>
    ) -> StreamExecutionEnvironment {
        var configuration = testConfiguration(checkpointing: CheckpointConfig(directory: directory))
        configuration.workerLayout = workers
        configuration.allowExactlyOnceWithInMemoryCheckpoints = inMemoryAccepted
        configuration.transactionalIdPrefix = prefix
        configuration.allowTransactionalIdPrefixChange = allowPrefixChange
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(Array(0..<10), recordsPerPoll: 2, checkpointEvery: 4), name: "numbers")
            .sinkTo(TransactionalCollectingSink(store: store), name: "exactly-once sink")
        return env
    }

    @Test func aSecondJobOnTheDirectoryFailsAtStartNamingTheHolder() throws {
        let directory = temporaryDirectory()
        let other = try CheckpointDirectoryLock.acquire(directory: directory)
        let store = InMemoryTransactionalStore<Int>()
        do {
            try job(directory: directory, store: store).execute()
            Issue.record("the job ran on a directory another job holds")
        } catch let error as CheckpointDirectoryLockError {
            #expect(error == .held(directory: directory, by: other.holder))
            #expect(error.description.contains("pid \(getpid())"))
        }
        #expect(store.committedValues.isEmpty)
        other.release()
        // Free again: the job runs, and gives the directory up when it ends.
        try job(directory: directory, store: store).execute()
        #expect(store.committedValues.sorted() == Array(0..<10))
        let after = try CheckpointDirectoryLock.acquire(directory: directory)
        after.release()
    }

    @Test func exactlyOnceWithoutACheckpointDirectoryIsRefused() throws {
        let store = InMemoryTransactionalStore<Int>()
        do {
            try job(directory: nil, store: store).execute()
            Issue.record("an exactly-once job ran with checkpoints in memory")
        } catch let error as RuntimeConfigurationError {
            #expect(error.description.contains("'exactly-once sink' needs durable checkpoints"))
        }
        #expect(store.committedValues.isEmpty)
        // An explicit opt-in (tests) runs it.
        try job(directory: nil, inMemoryAccepted: true, store: store).execute()
        #expect(store.committedValues.sorted() == Array(0..<10))
    }

    @Test func atLeastOnceSinksRunWithCheckpointsInMemory() throws {
        var configuration = testConfiguration()
        configuration.allowExactlyOnceWithInMemoryCheckpoints = false
        let env = StreamExecutionEnvironment(configuration)
        let values = CollectedValues<Int>()
        env.fromSource(CollectionSource(Array(0..<10)), name: "numbers").sinkTo(CollectingSink(into: values))
        try env.execute()
        #expect(values.values.sorted() == Array(0..<10))
    }

    /// Issue 13, point 2: checkpoints record the prefix and a job id; a restore under another
    /// prefix is refused unless allowed.
    @Test func checkpointsRecordTheirOwnerAndARestoreUnderAnotherPrefixIsRefused() throws {
        let directory = temporaryDirectory()
        let store = InMemoryTransactionalStore<Int>()
        try job(directory: directory, prefix: "orders-prod", store: store).execute()
        let written = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: testConfiguration().logger))
        let owner = try #require(written.owner)
        #expect(owner.transactionalIdPrefix == "orders-prod")
        #expect(!owner.jobId.isEmpty)

        do {
            try job(directory: directory, prefix: "orders-test", store: store).execute()
            Issue.record("restored a checkpoint written under another prefix")
        } catch let error as CheckpointOwnershipError {
            #expect(error.description.contains("written under the transactional-id prefix 'orders-prod'"))
            #expect(error.description.contains("--allow-transactional-id-prefix-change"))
        }
        // The same prefix continues the job, and keeps its id.
        try job(directory: directory, prefix: "orders-prod", store: store).execute()
        let continued = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: testConfiguration().logger))
        #expect(continued.owner?.jobId == owner.jobId)
        #expect(continued.checkpointId > written.checkpointId)
        // Allowed explicitly, the new prefix goes on and is recorded from then on.
        try job(directory: directory, prefix: "orders-test", allowPrefixChange: true, store: store).execute()
        let moved = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: testConfiguration().logger))
        #expect(moved.owner == CheckpointOwner(jobId: owner.jobId, transactionalIdPrefix: "orders-test"))
    }

    @Test func metadataWithoutAnOwnerStaysReadable() throws {
        let owned = CheckpointMetadata(
            checkpointId: 7, timestamp: 1, isFinal: false, operators: [],
            owner: CheckpointOwner(jobId: "job-1", transactionalIdPrefix: "p"))
        #expect(try CheckpointMetadata.decode(owned.encoded()) == owned)
        let atLeastOnce = CheckpointMetadata(checkpointId: 7, timestamp: 1, isFinal: false, operators: [],
                                             owner: CheckpointOwner(jobId: "job-1", transactionalIdPrefix: nil))
        #expect(try CheckpointMetadata.decode(atLeastOnce.encoded()) == atLeastOnce)
        // Written by version 3 (before owners): the owner is unknown, and any prefix may restore it.
        let old = try CheckpointMetadata.decode(owned.encoded(version: 3))
        #expect(old.owner == nil && old.checkpointId == 7)
        var configuration = testConfiguration()
        configuration.transactionalIdPrefix = "q"
        let continued = try CheckpointOwner.continuing(old, configuration: configuration, freshJobId: "fresh")
        #expect(continued == CheckpointOwner(jobId: "fresh", transactionalIdPrefix: "q"))
    }

    /// Issue 15: checkpoints record the worker layout; a worker of another count, or another
    /// worker, does not restore them (its source offsets cover another share of the partitions).
    @Test func checkpointsRecordTheWorkerLayoutAndAnotherLayoutIsRefused() throws {
        let directory = temporaryDirectory()
        let store = InMemoryTransactionalStore<Int>()
        let oneOfTwo = try #require(WorkerLayout(workers: 2, index: 1))
        try job(directory: directory, prefix: "copy", workers: oneOfTwo, store: store).execute()
        let logger = testConfiguration().logger
        let written = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: logger))
        #expect(written.owner?.workers == oneOfTwo)

        let oneOfThree = try #require(WorkerLayout(workers: 3, index: 1))
        do {
            try job(directory: directory, prefix: "copy", workers: oneOfThree, store: store).execute()
            Issue.record("worker 1 of 3 restored a checkpoint of worker 1 of 2")
        } catch let error as CheckpointOwnershipError {
            #expect(error == .workerLayoutChanged(
                snapshot: "checkpoint \(written.checkpointId) (\(directory)/chk-\(written.checkpointId))", recorded: oneOfTwo, current: oneOfThree))
            #expect(error.description.contains("checkpoint \(written.checkpointId) (\(directory)/chk-\(written.checkpointId)): it was taken by worker 1 of 2; this process is worker 1 of 3"))
            #expect(error.description.contains("Changing the number of workers needs a rescale"))
            #expect(error.description.contains("--workers 2"))
        }
        let zeroOfTwo = try #require(WorkerLayout(workers: 2, index: 0))
        do {
            try job(directory: directory, prefix: "copy", workers: zeroOfTwo, store: store).execute()
            Issue.record("worker 0 of 2 restored a checkpoint of worker 1 of 2")
        } catch let error as CheckpointOwnershipError {
            #expect(error.description.contains("it was taken by worker 1 of 2; this process is worker 0 of 2"))
            #expect(error.description.contains("--worker-index 1"))
        }
        // Nothing of the refused starts ran: no checkpoint after the first run's.
        let unchanged = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: logger))
        #expect(unchanged.checkpointId == written.checkpointId)
        // The same worker goes on.
        try job(directory: directory, prefix: "copy", workers: oneOfTwo, store: store).execute()
        let continued = try #require(FileSystemCheckpointStorage(directory: directory).latestCompleted(logger: logger))
        #expect(continued.checkpointId > written.checkpointId && continued.owner?.workers == oneOfTwo)
    }

    /// Metadata of version 4 has no layout: it reads as worker 0 of 1, restored by one process only.
    @Test func metadataWithoutAWorkerLayoutReadsAsOneProcess() throws {
        let layout = try #require(WorkerLayout(workers: 3, index: 2))
        let owned = CheckpointMetadata(
            checkpointId: 9, timestamp: 1, isFinal: false, operators: [],
            owner: CheckpointOwner(jobId: "job-1", transactionalIdPrefix: "p", workers: layout))
        #expect(try CheckpointMetadata.decode(owned.encoded()) == owned)
        let old = try CheckpointMetadata.decode(owned.encoded(version: 4))
        #expect(old.owner == CheckpointOwner(jobId: "job-1", transactionalIdPrefix: "p", workers: .single))
        var configuration = testConfiguration()
        configuration.transactionalIdPrefix = "p"
        #expect(try CheckpointOwner.continuing(old, configuration: configuration, freshJobId: "fresh").workers == .single)
        configuration.workerLayout = layout
        #expect(throws: CheckpointOwnershipError.workerLayoutChanged(snapshot: "checkpoint 9", recorded: .single, current: layout)) {
            try CheckpointOwner.continuing(old, configuration: configuration, freshJobId: "fresh")
        }
        #expect(try CheckpointOwner.continuing(owned, configuration: configuration, freshJobId: "fresh").workers == layout)
        // A layout whose index is outside its count is malformed, not restored.
        #expect(WorkerLayout(workers: 2, index: 2) == nil && WorkerLayout(workers: 0, index: 0) == nil)
    }
}
