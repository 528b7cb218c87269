import Foundation
import Logging
import Testing
@testable import SluiceApp

/// --workers, --worker-index, the index from a StatefulSet pod's host name, the names each worker
/// derives, and the refusal of keyed exchanges across workers.
@Suite struct WorkerOptionsTests {
    func settings(_ arguments: [String], environment: [String: String] = [:]) throws -> JobSettings {
        try StandardJobOptions.parse(StandardJobOptionsTests.exactlyOnce + arguments).settings(jobName: "pass-through", environment: environment)
    }

    @Test func oneProcessByDefaultKeepsItsNames() throws {
        let one = try settings([], environment: ["HOSTNAME": "pass-through-2"])
        #expect(one.worker == .all)
        #expect(one.checkpointDirectory == "/tmp/c")
        #expect(one.savepointDirectory == "/tmp/c/savepoints")
        #expect(one.transactionalIdPrefix == "orders-prod")
    }

    @Test func anExplicitIndexGivesTheWorkerItsOwnFoldersAndTransactionalIds() throws {
        let worker = try settings(["--workers", "3", "--worker-index", "1"], environment: ["HOSTNAME": "pass-through-2"])
        #expect(worker.worker == KafkaWorkerShare(workers: 3, index: 1))
        #expect(worker.checkpointDirectory == "/tmp/c/worker-1")
        #expect(worker.savepointDirectory == "/tmp/c/worker-1/savepoints")
        #expect(worker.transactionalIdPrefix == "orders-prod-w1")
        let savepoints = try settings(["--workers", "2", "--worker-index", "0", "--savepoint-dir", "/s"])
        #expect(savepoints.savepointDirectory == "/s/worker-0")
    }

    @Test func theIndexComesFromTheStatefulSetOrdinal() throws {
        let pod = try settings(["--workers", "3"], environment: ["HOSTNAME": "click-count-2"])
        #expect(pod.worker == KafkaWorkerShare(workers: 3, index: 2))
        #expect(pod.transactionalIdPrefix == "orders-prod-w2")
    }

    @Test func ordinalsParse() {
        #expect(WorkerOrdinal.parse(hostName: "click-count-2") == 2)
        #expect(WorkerOrdinal.parse(hostName: "sluice-pass-through-10") == 10)
        #expect(WorkerOrdinal.parse(hostName: "a-0") == 0)
        #expect(WorkerOrdinal.parse(hostName: "laptop") == nil)
        #expect(WorkerOrdinal.parse(hostName: "click-count-") == nil)
        #expect(WorkerOrdinal.parse(hostName: "click-count-2a") == nil)
        #expect(WorkerOrdinal.parse(hostName: "web-+3") == nil)
        #expect(WorkerOrdinal.parse(hostName: "x-99999999999999999999") == nil)
        #expect(WorkerOrdinal.parse(hostName: "") == nil)
    }

    @Test func aWorkerWithoutAnIndexOrOutOfRangeIsRefused() throws {
        let noIndex = #expect(throws: ValidationError.self) { try settings(["--workers", "3"], environment: ["HOSTNAME": "laptop"]) }
        #expect(noIndex?.message.contains("--worker-index") == true, "\(String(describing: noIndex))")
        #expect(noIndex?.message.contains("'laptop'") == true)
        let beyond = #expect(throws: ValidationError.self) { try settings(["--workers", "3"], environment: ["HOSTNAME": "job-3"]) }
        #expect(beyond?.message.contains("between 0 and 2") == true, "\(String(describing: beyond))")
        #expect(beyond?.message.contains("$HOSTNAME") == true)
        #expect(throws: ValidationError.self) { try settings(["--workers", "2", "--worker-index", "2"]) }
        #expect(throws: JobSettingsError.self) { try WorkerOrdinal.share(workers: 2, index: -1, environment: [:]) }
        #expect(throws: ValidationError.self) { try settings(["--workers", "0"]) }
    }

    /// A job declared on a builder with these options (nothing starts: no broker is needed).
    func graph(
        _ arguments: [String], declare: (JobBuilder) throws -> Void, exchange: (KafkaKeyedExchange) -> Void = { $0.ensureTopic = { _, _ in } }
    ) throws -> (JobSettings, JobGraphDescription) {
        let settings = try settings(arguments)
        let builder = JobBuilder(settings: settings, logger: Logger(label: "worker-options-test"))
        if let made = builder.exchange { exchange(made) }
        try declare(builder)
        return (settings, try builder.environment.describeJobGraph())
    }

    static func passThrough(_ job: JobBuilder) throws {
        try job.kafkaSource(topics: ["input"], name: "input") { $0.valueString }
            .map(name: "upper") { $0.uppercased() }
            .sinkToKafka(job, topic: "output", name: "output") { KafkaSinkRecord(value: Array($0.utf8)) }
    }

    static func keyed(_ job: JobBuilder) throws {
        try job.kafkaSource(topics: ["input"], name: "input") { $0.valueString }
            .keyBy { $0 }
            .map(name: "count") { $0 }
            .sinkToKafka(job, topic: "output", name: "output") { KafkaSinkRecord(value: Array($0.utf8)) }
    }

    /// Issue 15, point 2: a keyBy crosses workers through a repartition topic. The graph gains the
    /// exchange's writer (event time, records, a sink) and its reader, and the keyed edge leaves
    /// the reader, which holds this worker's key groups.
    @Test func aKeyedJobAsSeveralWorkersCrossesThroughARepartitionTopic() throws {
        var created: [String: Int] = [:]
        let (settings, keyed) = try graph(["--workers", "2", "--worker-index", "1", "--max-parallelism", "12"], declare: Self.keyed) { exchange in
            exchange.ensureTopic = { topic, partitions in created[topic] = partitions }
        }
        #expect(created == ["pass-through-input-repartition": 12])
        var renamed: [String: Int] = [:]
        _ = try graph(["--workers", "2", "--worker-index", "0", "--repartition-topic-prefix", "staging"], declare: Self.keyed) { exchange in
            exchange.ensureTopic = { topic, partitions in renamed[topic] = partitions }
        }
        #expect(renamed == ["staging-input-repartition": 128], "two deployments of one job need their own topics")
        let names = Dictionary(uniqueKeysWithValues: keyed.vertices.map { ($0.id, $0.name) })
        let keyedEdges = keyed.edges.filter { $0.partitioning == "hash" }
        #expect(keyedEdges.map { names[$0.source] } == ["pass-through-input-repartition reader"], "\(keyed.edges)")
        #expect(keyed.vertices.contains { $0.name == "pass-through-input-repartition sink" })
        try settings.verifyWorkerExchanges(keyed, exchangeReaders: ["pass-through-input-repartition reader"])
        // The keyed edge alone, without the reader's word, would still be refused.
        #expect(throws: JobBuildError.self) { try settings.verifyWorkerExchanges(keyed) }
        #expect(settings.runtimeConfiguration(logger: Logger(label: "test")).keyGroupScope == KeyGroupRange(start: 6, end: 11))
    }

    @Test func aKeyedRescaleBetweenOneProcessAndWorkersIsRefused() throws {
        let (toOne, keyedAlone) = try graph(["--rescale-from-workers", "3"], declare: Self.keyed)
        let refusal = #expect(throws: JobBuildError.self) { try toOne.verifyKeyedRescale(keyedAlone) }
        #expect(refusal?.description.contains("from 3 to 1 worker(s)") == true, "\(String(describing: refusal))")
        let (fromOne, keyedWorkers) = try graph(["--workers", "2", "--worker-index", "0", "--rescale-from-workers", "1"], declare: Self.keyed)
        #expect(throws: JobBuildError.self) { try fromOne.verifyKeyedRescale(keyedWorkers) }
        let (between, keyedBetween) = try graph(["--workers", "2", "--worker-index", "0", "--rescale-from-workers", "3"], declare: Self.keyed)
        try between.verifyKeyedRescale(keyedBetween)
        let (stateless, passThrough) = try graph(["--rescale-from-workers", "3"], declare: Self.passThrough)
        try stateless.verifyKeyedRescale(passThrough)
    }

    @Test func aBroadcastOrAnUncodableKeyedStreamIsRefusedAsSeveralWorkersAndSaysWhy() throws {
        let (settings, broadcast) = try graph(["--workers", "2", "--worker-index", "0"]) { job in
            try job.kafkaSource(topics: ["input"], name: "input") { $0.valueString }
                .broadcast()
                .map(name: "everywhere") { $0 }
                .sinkToKafka(job, topic: "output", name: "output") { KafkaSinkRecord(value: Array($0.utf8)) }
        }
        let refusal = #expect(throws: JobBuildError.self) { try settings.verifyWorkerExchanges(broadcast) }
        let message = refusal?.description ?? ""
        #expect(message.contains("cannot run as --workers 2"), "\(message)")
        #expect(message.contains("input -> everywhere (broadcast)"), "\(message)")
        #expect(message.contains("counted in several workers"), "\(message)")
        #expect(message.contains("--keys-follow-partitions"), "\(message)")

        struct Opaque: Sendable { var page: String }
        let builder = JobBuilder(settings: try self.settings(["--workers", "2", "--worker-index", "0"]), logger: Logger(label: "test"))
        builder.exchange?.ensureTopic = { _, _ in }
        try builder.kafkaSource(topics: ["input"], name: "input") { Opaque(page: $0.valueString ?? "") }
            .keyBy { $0.page }
            .map(name: "count") { $0.page }
            .sinkToKafka(builder, topic: "output", name: "output") { KafkaSinkRecord(value: Array($0.utf8)) }
        let failure = try #require(builder.exchange?.failure)
        #expect("\(failure)".contains("make Opaque BinaryCodable"), "\(failure)")
    }

    @Test func keyedJobsRunAsOneProcessOrWhenKeysFollowPartitions() throws {
        let (one, keyedAlone) = try graph([], declare: Self.keyed)
        try one.verifyWorkerExchanges(keyedAlone)
        let (declared, keyedLocal) = try graph(["--workers", "2", "--worker-index", "1", "--keys-follow-partitions"], declare: Self.keyed)
        try declared.verifyWorkerExchanges(keyedLocal)
    }

    @Test func statelessJobsRunAsWorkers() throws {
        let (settings, stateless) = try graph(["--workers", "2", "--worker-index", "1"], declare: Self.passThrough)
        try settings.verifyWorkerExchanges(stateless)
        // A rebalance stays inside the worker: allowed.
        let (rebalanced, spread) = try graph(["--workers", "2", "--worker-index", "1", "-p", "3"]) { job in
            try job.kafkaSource(topics: ["input"], name: "input", parallelism: 2) { $0.valueString }
                .map(name: "upper") { $0.uppercased() }
                .sinkToKafka(job, topic: "output", name: "output") { KafkaSinkRecord(value: Array($0.utf8)) }
        }
        #expect(spread.edges.contains { $0.partitioning == "rebalance" })
        try rebalanced.verifyWorkerExchanges(spread)
    }

    /// Writes a completed (empty) checkpoint as `layout` into `folder`.
    static func writeCheckpoint(_ id: Int64, in folder: String, by layout: WorkerLayout) throws {
        let checkpoint = folder + "/chk-\(id)"
        try FileManager.default.createDirectory(atPath: checkpoint, withIntermediateDirectories: true)
        let metadata = CheckpointMetadata(
            checkpointId: id, timestamp: 1, isFinal: false, operators: [],
            owner: CheckpointOwner(jobId: "job", transactionalIdPrefix: "orders-prod", workers: layout))
        try Data(metadata.encoded()).write(to: URL(fileURLWithPath: checkpoint + "/_metadata"))
    }

    /// A worker without checkpoints of its own must not start afresh beside checkpoints of another
    /// number of workers (it would read their partitions again from the initial offsets).
    @Test func aFreshWorkerBesideAnotherWorkerCountIsRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-survey-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func worker(_ index: Int, of workers: Int) throws -> JobSettings {
            var arguments = ["--checkpoint-dir", root, "--transactional-id-prefix", "orders-prod", "--workers", String(workers)]
            if workers > 1 { arguments += ["--worker-index", String(index)] }
            return try StandardJobOptions.parse(arguments).settings(jobName: "pass-through", environment: [:])
        }
        let logger = Logger(label: "test")
        // Nothing anywhere: every layout starts.
        try WorkerCheckpointSurvey.verify(try worker(2, of: 3), logger: logger)
        try WorkerCheckpointSurvey.verify(try worker(0, of: 1), logger: logger)

        for index in 0..<2 { try Self.writeCheckpoint(4, in: root + "/worker-\(index)", by: try #require(WorkerLayout(workers: 2, index: index))) }
        let twoOfThree = try #require(WorkerLayout(workers: 3, index: 2))
        #expect(throws: CheckpointOwnershipError.workerCountChangedBeside(
            snapshot: "checkpoint 4 (\(root)/worker-0/chk-4)", recorded: try #require(WorkerLayout(workers: 2, index: 0)), current: twoOfThree)) {
            try WorkerCheckpointSurvey.verify(try worker(2, of: 3), logger: logger)
        }
        do {
            try WorkerCheckpointSurvey.verify(try worker(0, of: 1), logger: logger)
            Issue.record("one process started afresh beside the checkpoints of two workers")
        } catch {
            #expect("\(error)".contains("this worker has no checkpoint of its own"))
            #expect("\(error)".contains("was taken by worker 0 of 2; this process is worker 0 of 1"))
        }
        // The same count starts (a worker whose folder was lost is the runtime's and the operator's concern).
        try WorkerCheckpointSurvey.verify(try worker(1, of: 2), logger: logger)
        // A worker with checkpoints of its own is checked by the restore, not here.
        try Self.writeCheckpoint(2, in: root + "/worker-2", by: twoOfThree)
        try WorkerCheckpointSurvey.verify(try worker(2, of: 3), logger: logger)
        // A single process's checkpoints in the root refuse a fresh worker of several.
        let single = root + "/single"
        try Self.writeCheckpoint(1, in: single, by: .single)
        var settings = try worker(1, of: 2)
        settings.checkpointDirectory = single + "/worker-1"
        #expect(throws: CheckpointOwnershipError.self) { try WorkerCheckpointSurvey.verify(settings, logger: logger) }
        // A named savepoint is the runtime's to check.
        settings.restoreFrom = single + "/chk-1"
        try WorkerCheckpointSurvey.verify(settings, logger: logger)
    }

    /// --rescale-from-workers: the earlier workers' folders, and the retired transactional-id
    /// prefixes each new worker aborts (old worker j by new worker j % workers).
    @Test func aRescaleFindsTheEarlierWorkersAndTheirRetiredIds() throws {
        let zeroOfTwo = try settings(["--workers", "2", "--worker-index", "0", "--rescale-from-workers", "3"])
        #expect(zeroOfTwo.rescaleFromFolders == ["/tmp/c/worker-0", "/tmp/c/worker-1", "/tmp/c/worker-2"])
        #expect(zeroOfTwo.retiredTransactionalIdPrefixes == ["orders-prod-w2"])
        #expect(zeroOfTwo.runtimeConfiguration(logger: Logger(label: "test")).workerRescale?.folders == zeroOfTwo.rescaleFromFolders)
        let oneOfTwo = try settings(["--workers", "2", "--worker-index", "1", "--rescale-from-workers", "3"])
        #expect(oneOfTwo.retiredTransactionalIdPrefixes.isEmpty)
        // From one process: its folder and prefix are the root's, and no worker uses the bare prefix any more.
        let fromOne = try settings(["--workers", "3", "--worker-index", "0", "--rescale-from-workers", "1"])
        #expect(fromOne.rescaleFromFolders == ["/tmp/c"])
        #expect(fromOne.retiredTransactionalIdPrefixes == ["orders-prod"])
        // To one process: every worker prefix is retired.
        let toOne = try settings(["--rescale-from-workers", "2"])
        #expect(toOne.rescaleFromFolders == ["/tmp/c/worker-0", "/tmp/c/worker-1"])
        #expect(toOne.retiredTransactionalIdPrefixes == ["orders-prod-w0", "orders-prod-w1"])
        #expect(throws: (any Error).self) { try settings(["--rescale-from-workers", "2", "--from-savepoint", "/s"]) }
        #expect(try settings([]).runtimeConfiguration(logger: Logger(label: "test")).workerRescale == nil)
    }
}
