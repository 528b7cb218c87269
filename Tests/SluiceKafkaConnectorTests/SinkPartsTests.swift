import Logging
import Metrics
import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceKafkaWire
@testable import SluiceRuntime
import Testing

/// The exactly-once sink's parts, each driven on in-memory fakes of its clients (no broker).
@Suite("Exactly-once sink parts")
struct SinkPartsTests {
    @Test func theWriterFlushesAtTheBarrierIntoACommittable() throws {
        let parts = FakeSinkParts()
        var transaction = try parts.writer.beginTransaction(checkpointId: 1)
        for text in ["a", "b", "c"] { try parts.writer.write(record(text), to: &transaction) }
        let preCommitted = try #require(try parts.writer.preCommit(&transaction))
        #expect(preCommitted.records == 3)
        #expect(preCommitted.committable == TransactionCommittable(
            transactionalId: "job-0-0", producerId: 7, epoch: 3, firstOffsets: [TopicPartition("out", 0): 40]))
        let producer = try #require(parts.factory.producer("job-0-0"))
        #expect(producer.calls == ["begin", "produce", "produce", "produce", "flush"])
        // The slot stays busy until the checkpoint completes.
        #expect(parts.pool.checkpoint(heldBy: 0) == 1)
    }

    @Test func anEmptyTransactionIsEndedWithoutACommittable() throws {
        let parts = FakeSinkParts()
        var transaction = try parts.writer.beginTransaction(checkpointId: 1)
        #expect(try parts.writer.preCommit(&transaction) == nil)
        #expect(parts.factory.producer("job-0-0")?.calls == ["begin", "abort"])
        #expect(parts.pool.busySlots.isEmpty)
    }

    @Test func undeliveredRecordsFailThePreCommit() throws {
        let parts = FakeSinkParts()
        var transaction = try parts.writer.beginTransaction(checkpointId: 1)
        try parts.writer.write(record("a"), to: &transaction)
        parts.factory.producer("job-0-0")?.failDeliveries = true
        #expect {
            _ = try parts.writer.preCommit(&transaction)
        } throws: { error in
            guard case .deliveryFailed(let count, _) = error as? KafkaSinkError else { return false }
            return count == 1
        }
    }

    @Test func thePoolRunsOutWhenEveryProducerWaitsForACheckpoint() throws {
        let parts = FakeSinkParts(poolSize: 2)
        for checkpoint in Int64(1)...2 {
            var transaction = try parts.writer.beginTransaction(checkpointId: checkpoint)
            try parts.writer.write(record("x"), to: &transaction)
            _ = try parts.writer.preCommit(&transaction)
        }
        #expect {
            _ = try parts.writer.beginTransaction(checkpointId: 3)
        } throws: { error in
            guard case .producerPoolExhausted(let size, let pending) = error as? KafkaSinkError else { return false }
            return size == 2 && pending == [1, 2]
        }
    }

    @Test func theCommitterCommitsWithTheHoldingProducerAndIsIdempotent() throws {
        let parts = FakeSinkParts(recovery: [.alreadyResolved(.committed)])
        var transaction = try parts.writer.beginTransaction(checkpointId: 1)
        try parts.writer.write(record("a"), to: &transaction)
        let preCommitted = try #require(try parts.writer.preCommit(&transaction))
        parts.committer.awaitCommit(preCommitted)
        #expect(try parts.committer.commit(preCommitted.committable) == .committed)
        #expect(parts.factory.producer("job-0-0")?.calls.last == "commit")
        #expect(parts.pool.busySlots.isEmpty)
        #expect(parts.recovery.committed.isEmpty)
        // Again (as after a crash between the commit and the next checkpoint): found committed.
        #expect(try parts.committer.commit(preCommitted.committable) == .alreadyCommitted)
        #expect(parts.recovery.committed.count == 1)
    }

    @Test(arguments: [
        ([TransactionOutcome.committed], KafkaCommitter.Outcome.committed),
        ([.alreadyResolved(.committed)], .alreadyCommitted),
        ([.coordinatorMoved("moved"), .retriable(.malformed("x")), .committed], .committed),
    ])
    func theCommitterTellsRecoveryOutcomesApart(outcomes: [TransactionOutcome], expected: KafkaCommitter.Outcome) throws {
        let parts = FakeSinkParts(recovery: outcomes)
        #expect(try parts.committer.recover(committable("job-0-1")) == expected)
        #expect(parts.recovery.committed.count == outcomes.count)
        #expect(parts.pauses.values.count == outcomes.count - 1)
    }

    @Test func aRefusedCommitIsLostOnlyWhenTheLogCouldHaveSaidOtherwise() throws {
        let parts = FakeSinkParts(recovery: [.fenced("stale epoch")])
        #expect(try parts.committer.recover(committable("job-0-1")) == .probablyResolved("stale epoch"))
        let withOffsets = committable("job-0-1", offsets: [TopicPartition("out", 0): 5])
        #expect(throws: KafkaSinkError.self) { try parts.committer.recover(withOffsets) }
    }

    /// Aborted by the broker between the restore's look at the log and the commit: the attempt fails
    /// (never goes on silently); the next restore sees the ABORT marker.
    @Test(arguments: [TransactionOutcome.aborted, .alreadyResolved(.aborted)])
    func anAbortFoundWhileCommittingFailsTheAttempt(outcome: TransactionOutcome) {
        let parts = FakeSinkParts(recovery: [outcome])
        #expect {
            try parts.committer.recover(committable("job-0-1"))
        } throws: { error in
            guard case .restoredTransactionAborted(let id, _) = error as? KafkaSinkError else { return false }
            return id == "job-0-1"
        }
    }

    @Test func recoveryGivesUpAfterBoundedRetries() {
        let parts = FakeSinkParts(recovery: [.coordinatorMoved("moved")])
        #expect {
            try parts.committer.recover(committable("job-0-1"))
        } throws: { error in
            guard case .recoveryFailed(let id, _) = error as? KafkaSinkError else { return false }
            return id == "job-0-1"
        }
        #expect(parts.recovery.committed.count == KafkaCommitter.recoveryAttempts)
    }

    @Test func theAbortStrategyInitialisesOwnAndScaledDownIds() throws {
        let parts = FakeSinkParts(poolSize: 2)
        let aborter = LingeringTransactionAborter(factory: parts.factory, logger: Logger(label: "test"))
        let ids = try aborter.abortLingering(in: parts.pool, parallelism: 2, previousParallelism: 5)
        #expect(Set(ids) == ["job-0-0", "job-0-1", "job-2-0", "job-2-1", "job-4-0", "job-4-1"])
        let byId = Dictionary(uniqueKeysWithValues: parts.factory.producers.map { ($0.transactionalId, $0) })
        // Old subtasks' ids: initialised once (which aborts their leftovers), then closed.
        #expect(["job-2-0", "job-2-1", "job-4-0", "job-4-1"].allSatisfy { byId[$0]?.closed == true })
        // Own slots: kept for this run.
        #expect(parts.pool.emptySlots.isEmpty)
        #expect(byId["job-0-0"]?.closed == false)
        #expect(parts.pool.existingProducer(1)?.transactionalId == "job-0-1")
    }

    @Test func theAbortStrategyClosesEverythingWhenOneIdFails() {
        let factory = FakeProducerFactory(failing: ["job-0-1"])
        let pool = KafkaProducerPool(ids: KafkaTransactionalIdPool(prefix: "job", size: 3), subtask: 0, factory: factory)
        let aborter = LingeringTransactionAborter(factory: factory, logger: Logger(label: "test"))
        #expect(throws: KafkaSinkError.self) {
            try aborter.abortLingering(in: pool, parallelism: 1, previousParallelism: nil)
        }
        #expect(factory.producers.count == 2)
        let allClosed = factory.producers.allSatisfy { $0.closed }
        #expect(allClosed)
        #expect(pool.emptySlots == [0, 1, 2])
    }

    @Test func theHoldBackKeepsRecordsWhileACommitIsPending() throws {
        let parts = FakeSinkParts()
        let holdBack = StalledLastStableOffsetHoldBack(decorating: parts.writer, limit: 2)
        var first = try holdBack.beginTransaction(checkpointId: 1)
        try holdBack.write(record("one"), to: &first)
        let preCommitted = try #require(try holdBack.preCommit(&first))
        parts.committer.awaitCommit(preCommitted)
        var second = try holdBack.beginTransaction(checkpointId: 2)
        for text in ["two-a", "two-b", "two-c"] { try holdBack.write(record(text), to: &second) }
        // Two held (the limit), the third went out with them.
        let secondProducer = try #require(parts.factory.producer("job-0-1"))
        #expect(secondProducer.produced.count == 3)
        #expect(second.records == 3)
        #expect(holdBack.heldBackCount == 0)
    }

    /// Issue 13, point 2: fenced while running means another job owns the prefix. librdkafka reports
    /// the fencing only to its error callback; the failing flush shows purged deliveries. The sink
    /// asks the producer and fails with a non-restartable error naming the transactional id.
    @Test func aFencedProducerEndsTheJobInsteadOfRestartingIt() throws {
        let factory = FakeProducerFactory()
        let configuration = KafkaSinkConfiguration(
            bootstrapServers: "unused:9092", topic: "out", deliveryGuarantee: .exactlyOnce(prefix: "job"),
            producerPoolSize: 2, transactionTimeout: .seconds(60))
        let sink = KafkaTwoPhaseCommitSink<String>(
            configuration: configuration, prefix: "job", serializer: { KafkaSinkRecord(value: Array($0.utf8)) },
            clients: .init(producers: factory, recovery: { FakeRecoveryClient([]) }))
        try sink.open(Self.context(checkpointInterval: .seconds(15)))
        var next = try sink.beginTransaction(checkpointId: 1)
        try sink.write("y", timestamp: 6, to: &next)
        let fenced = try #require(factory.producer(next.transactionalId))
        fenced.failDeliveries = true
        fenced.fatalState = KafkaError(
            kind: .fenced, codeName: "_FENCED", message: "fatal producer state: This instance has been fenced by a newer instance")
        do {
            _ = try sink.preCommit(&next)
            Issue.record("a fenced producer's flush did not fail")
        } catch let error as KafkaSinkFencedError {
            #expect(endsTheJob(error), "the restart strategy would restart the job")
            #expect(error.transactionalId == next.transactionalId)
            #expect(error.description.contains("another job uses this job's transactional-id prefix"))
        }
    }

    @Test func theSinkChecksTheRuntimesCheckpointIntervalAndRecoversBeforeInitialising() throws {
        let factory = FakeProducerFactory()
        let recovery = FakeRecoveryClient([.alreadyResolved(.committed)])
        var configuration = KafkaSinkConfiguration(
            bootstrapServers: "unused:9092", topic: "out", deliveryGuarantee: .exactlyOnce(prefix: "job"),
            producerPoolSize: 2, transactionTimeout: .seconds(30))
        func sink() -> KafkaTwoPhaseCommitSink<String> {
            KafkaTwoPhaseCommitSink(
                configuration: configuration, prefix: "job", serializer: { KafkaSinkRecord(value: Array($0.utf8)) },
                clients: .init(producers: factory, recovery: { recovery }))
        }
        // 30 s is below 2 x 15 s + 10 s: refused at open, with the interval the runtime gives.
        #expect(throws: KafkaSinkError.self) { try sink().open(Self.context(checkpointInterval: .seconds(15))) }
        configuration.transactionTimeout = .seconds(60)
        let opened = sink()
        try opened.open(Self.context(checkpointInterval: .seconds(15)))
        try opened.recoverAndCommit(committable("job-0-0"))
        #expect(recovery.committed.count == 1)
        #expect(factory.producers.isEmpty, "a producer initialised before the restored committables were committed")
        try opened.recoverAndAbort(SinkRecoveryContext(
            subtaskIndex: 0, parallelism: 1, previousParallelism: nil, restoredCheckpointId: 1, firstCheckpointId: 2))
        #expect(factory.producers.map(\.transactionalId).sorted() == ["job-0-0", "job-0-1"])
        var transaction = try opened.beginTransaction(checkpointId: 2)
        try opened.write("x", timestamp: 5, to: &transaction)
        let written = try #require(try opened.preCommit(&transaction))
        try opened.commit(written)
        #expect(factory.producer(written.transactionalId)?.calls == ["begin", "produce", "flush", "commit"])
        #expect(factory.producer(written.transactionalId)?.produced.first?.timestamp == 5)
        try opened.close()
        let allClosed = factory.producers.allSatisfy { $0.closed }
        #expect(allClosed)
    }

    static func context(checkpointInterval: Duration?) -> SinkContext<TransactionCommittable> {
        SinkContext(
            subtaskIndex: 0, parallelism: 1, previousParallelism: nil, restoredCheckpointId: nil, restoredCommittables: [],
            firstCheckpointId: 1, logger: Logger(label: "test"), metricDimensions: [], metricsFactory: NOOPMetricsHandler.instance,
            checkpointInterval: checkpointInterval)
    }

    @Test func theHoldBackReleasesRecordsAfterTheCommit() throws {
        let parts = FakeSinkParts()
        let holdBack = StalledLastStableOffsetHoldBack(decorating: parts.writer)
        var first = try holdBack.beginTransaction(checkpointId: 1)
        try holdBack.write(record("one"), to: &first)
        let preCommitted = try #require(try holdBack.preCommit(&first))
        var second = try holdBack.beginTransaction(checkpointId: 2)
        try holdBack.write(record("two"), to: &second)
        let secondProducer = try #require(parts.factory.producer("job-0-1"))
        #expect(secondProducer.produced.isEmpty)
        #expect(holdBack.heldBackCount == 1)
        try parts.committer.commit(preCommitted.committable)
        try holdBack.didCommit()
        #expect(secondProducer.produced.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["two"])
        // Without the decorator, records go to the producer at once.
        var third = try parts.writer.beginTransaction(checkpointId: 3)
        let before = parts.factory.producers.map(\.produced.count).reduce(0, +)
        try parts.writer.write(record("three"), to: &third)
        #expect(parts.factory.producers.map(\.produced.count).reduce(0, +) == before + 1)
    }
}
