import Foundation
import Testing
@testable import SluiceRuntime

/// Transactions a restored checkpoint promised that were aborted while the job was down (issue 13,
/// point 4), on the in-memory transactional store: the runtime rewinds, fails or goes on.
@Suite struct LostTransactionsRuntimeTests {
    static let crashAt: Int64 = 3

    /// Runs the counting job until checkpoint `crashAt` completed and before its commit; returns the
    /// handles of that checkpoint's transactions (pre-committed, not committed).
    func crashBeforeCommit(_ job: CountingJob) throws -> [String] {
        let faults = FaultInjector(point: .afterCheckpointCompleteBeforeCommit, checkpointId: Self.crashAt)
        #expect(throws: JobFailedError.self) { try job.run(faults: faults) }
        let promised = job.store.unfinishedTransactions.filter {
            $0.contains("-\(Self.crashAt)#") && job.store.state(of: $0) == .prepared
        }
        return promised
    }

    func run(_ job: CountingJob, lost policy: LostTransactionsPolicy = .fail) throws -> (JobResult, JobStatus) {
        var configuration = testConfiguration(checkpointing: CheckpointConfig(directory: job.directory))
        configuration.lostTransactions = policy
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        do {
            let result = try env.execute()
            return (result, env.control.status)
        } catch {
            Issue.record("the job failed: \(error); status \(env.control.status)")
            throw error
        }
    }

    @Test func noneCommittedRewindsToThePreviousCheckpointAndStaysExact() throws {
        let job = CountingJob()
        let promised = try crashBeforeCommit(job)
        try #require(!promised.isEmpty)
        for handle in promised { job.store.abort(handle) }

        let (result, status) = try run(job)
        #expect(result.status == .finished)
        #expect(job.store.committedValues.sorted() == job.expected)
        #expect(status.lostTransactions?.action == .rewound)
        #expect(status.lostTransactions?.rewoundTo == Self.crashAt - 1)
        #expect(Set(status.lostTransactions?.missing.map(\.transaction) ?? []) == Set(promised))
        let folders = try FileManager.default.contentsOfDirectory(atPath: job.directory)
        #expect(folders.contains { $0.hasPrefix("chk-\(Self.crashAt).unusable-") }, "the skipped checkpoint was not moved aside: \(folders)")
    }

    @Test func someCommittedFailsNamingTheLostOnesWithoutRestarting() throws {
        let job = CountingJob()
        let promised = try crashBeforeCommit(job).sorted()
        try #require(promised.count >= 2, "\(promised)")
        job.store.abort(promised[0])
        for handle in promised.dropFirst() { try job.store.commit(handle) }

        var configuration = testConfiguration(
            checkpointing: CheckpointConfig(directory: job.directory), restart: .fixedDelay(attempts: 3, delay: .zero))
        configuration.lostTransactions = .fail
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource(job.words, recordsPerPoll: 10, checkpointEvery: 50), name: "words")
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: job.store), name: "sink", parallelism: 2)
        do {
            _ = try env.execute()
            Issue.record("the job did not fail")
        } catch let error as JobFailedError {
            #expect(error.restarts == 0)
            #expect(error.underlying is LostTransactionsFailure)
            #expect("\(error)".contains(promised[0]))
            #expect("\(error)".contains("--on-lost-transactions continue"))
        }
        #expect(env.control.status.phase == .failed)
        #expect(env.control.status.lostTransactions?.action == .failed)
    }

    @Test func continueGoesOnWithTheLossReported() throws {
        let job = CountingJob()
        let promised = try crashBeforeCommit(job).sorted()
        try #require(promised.count >= 2, "\(promised)")
        job.store.abort(promised[0])
        for handle in promised.dropFirst() { try job.store.commit(handle) }

        let (result, status) = try run(job, lost: .continue)
        #expect(result.status == .finished)
        #expect(status.lostTransactions?.action == .continued)
        #expect(status.lostTransactions?.missing.map(\.transaction) == [promised[0]])
        // Everything but the lost transaction's records, each once.
        let committed = job.store.committedValues
        #expect(Set(committed).count == committed.count)
        #expect(committed.count < job.expected.count)
    }
}
