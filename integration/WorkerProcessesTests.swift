import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Issue 15, first steps: the stateless pass-through job as two worker processes over a topic of
/// four partitions. Worker 1 SIGKILLs itself at its third checkpoint, after the checkpoint completed
/// and before its transactions committed (SLUICE_CRASH_AT), while input still arrives; it is
/// restarted once and restores its own checkpoint. Worker 0 runs throughout. The transaction-aware
/// oracle must then see every input record exactly once, in its input partition.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct WorkerProcessesTests {
    static let partitions = 4
    static let perPartition = 300

    @Test func twoWorkersWithOneKilledAndRestartedWriteEveryRecordOnce() throws {
        let broker = try EmbeddedBroker.start()
        defer { broker.stop() }
        let input = EmbeddedBroker.uniqueName("workers-in")
        let output = EmbeddedBroker.uniqueName("workers-out")
        let prefix = EmbeddedBroker.uniqueName("workers")
        let configs = ["retention.ms": "-1", "retention.bytes": "-1"]
        for topic in [input, output] { try broker.createTopic(topic, partitions: Self.partitions, configs: configs) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-workers-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        // The first half before the workers start, the rest while they run (and while worker 1 is down).
        try produce(broker: broker, topic: input, range: 0..<(Self.perPartition / 2), pause: 0)
        let producing = Thread { try? produce(broker: broker, topic: input, range: (Self.perPartition / 2)..<Self.perPartition, pause: 0.02) }
        var launches = 0
        func worker(_ index: Int, environment: [String: String] = [:]) throws -> ChildProcess {
            launches += 1
            return try ChildProcess(
                executable: try BuiltProducts.path(of: "pass-through-job"),
                arguments: [
                    "--bootstrap", broker.bootstrap, "--input-topic", input, "--output-topic", output,
                    "--workers", "2", "--worker-index", String(index), "-p", "2",
                    "--checkpoint-dir", folder + "/checkpoints", "--checkpoint-interval", "300ms",
                    "--transactional-id-prefix", prefix, "--hold-back-while-commit-pending",
                ],
                environment: environment, logPath: folder + "/worker-\(index)-\(launches).log")
        }
        let worker0 = try worker(0)
        defer { worker0.kill() }
        let doomed = try worker(1, environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:3"])
        defer { doomed.kill() }
        producing.start()
        #expect(doomed.waitForExit(timeout: 60) != nil, "worker 1 did not crash: \(doomed.outputLines.suffix(10))")
        #expect(doomed.outputLines.contains { $0.contains("crash point afterCheckpointCompleteBeforeCommit at checkpoint 3") },
                "\(doomed.outputLines.suffix(10))")
        let restarted = try worker(1)
        defer { restarted.kill() }

        let expected = Dictionary(uniqueKeysWithValues: (0..<Self.partitions).map { partition in
            (Int32(partition), (0..<Self.perPartition).map { "p\(partition)-\($0)" })
        })
        let deadline = Date().addingTimeInterval(60)
        var seen = try committed(broker: broker, topic: output)
        while seen.values.map(\.count).reduce(0, +) < Self.partitions * Self.perPartition, Date() < deadline, worker0.isRunning, restarted.isRunning {
            Thread.sleep(forTimeInterval: 0.3)
            seen = try committed(broker: broker, topic: output)
        }
        // A few more checkpoints: nothing may be written twice after the count is reached.
        Thread.sleep(forTimeInterval: 1)
        seen = try committed(broker: broker, topic: output)
        for partition in 0..<Int32(Self.partitions) {
            let values = seen[partition] ?? []
            let missing = Set(expected[partition] ?? []).subtracting(values)
            let duplicated = Dictionary(grouping: values, by: { $0 }).filter { $0.value.count > 1 }.keys
            #expect(values.sorted() == (expected[partition] ?? []).sorted(),
                    "partition \(partition): \(values.count) records, missing \(missing.sorted().prefix(5)), duplicated \(duplicated.sorted().prefix(5))")
        }
        // The kill ended worker 1 only; the restart restored worker 1's own checkpoint.
        #expect(worker0.isRunning && restarted.isRunning, "\(worker0.outputLines.suffix(5)) \(restarted.outputLines.suffix(5))")
        #expect(FileManager.default.fileExists(atPath: folder + "/checkpoints/worker-0"))
        #expect(FileManager.default.fileExists(atPath: folder + "/checkpoints/worker-1"))
        #expect(restarted.waitForLine(timeout: 10) { $0.contains("restored") } != nil, "\(restarted.outputLines.prefix(20))")
        #expect(worker0.outputLines.contains { $0.contains("Running as worker 0 of 2") })
    }

    /// Issue 15: every checkpoint records its worker layout. After two workers ran and stopped, a
    /// worker started under --workers 3 is refused: worker 1 (its folder holds worker 1 of 2's
    /// checkpoints) and worker 2 (no folder of its own, beside other layouts' checkpoints) alike,
    /// as is a single process over the same folder. None of them writes anything, so the output
    /// stays exact; two workers again go on where they stopped.
    @Test func aRestartUnderAnotherNumberOfWorkersIsRefused() throws {
        let broker = try EmbeddedBroker.start()
        defer { broker.stop() }
        let input = EmbeddedBroker.uniqueName("workers-in")
        let output = EmbeddedBroker.uniqueName("workers-out")
        let prefix = EmbeddedBroker.uniqueName("workers")
        let configs = ["retention.ms": "-1", "retention.bytes": "-1"]
        for topic in [input, output] { try broker.createTopic(topic, partitions: Self.partitions, configs: configs) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-workers-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let records = 50
        try produce(broker: broker, topic: input, range: 0..<records, pause: 0)

        var launches = 0
        func worker(_ index: Int, of workers: Int) throws -> ChildProcess {
            launches += 1
            return try ChildProcess(
                executable: try BuiltProducts.path(of: "pass-through-job"),
                arguments: [
                    "--bootstrap", broker.bootstrap, "--input-topic", input, "--output-topic", output,
                    "--workers", String(workers), "--worker-index", String(index), "-p", "2",
                    "--checkpoint-dir", folder + "/checkpoints", "--checkpoint-interval", "300ms",
                    "--transactional-id-prefix", prefix, "--hold-back-while-commit-pending", "--restart-attempts", "0",
                ],
                logPath: folder + "/worker-\(index)-of-\(workers)-\(launches).log")
        }
        func waitForAll(_ count: Int) throws -> [Int32: [String]] {
            let deadline = Date().addingTimeInterval(30)
            var seen = try committed(broker: broker, topic: output)
            while seen.values.map(\.count).reduce(0, +) < count, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                seen = try committed(broker: broker, topic: output)
            }
            return seen
        }
        let first = try (0..<2).map { try worker($0, of: 2) }
        defer { first.forEach { $0.kill() } }
        _ = try waitForAll(Self.partitions * records)
        for process in first {
            #expect(process.waitForLine(timeout: 30) { $0.contains("Checkpoint 2 complete") } != nil, "\(process.outputLines.suffix(10))")
            process.terminate(timeout: 20)
        }

        let restored = try worker(1, of: 3)
        defer { restored.kill() }
        #expect(restored.waitForExit(timeout: 30).map { $0 != 0 } == true, "\(restored.outputLines.suffix(10))")
        #expect(restored.outputLines.contains {
            $0.contains("was taken by worker 1 of 2; this process is worker 1 of 3") && $0.contains("Changing the number of workers needs a rescale")
                && $0.contains(folder + "/checkpoints/worker-1/chk-")
        }, "\(restored.outputLines.suffix(10))")
        let fresh = try worker(2, of: 3)
        defer { fresh.kill() }
        #expect(fresh.waitForExit(timeout: 30).map { $0 != 0 } == true, "\(fresh.outputLines.suffix(10))")
        #expect(fresh.outputLines.contains {
            $0.contains("this worker has no checkpoint of its own") && $0.contains("was taken by worker 0 of 2; this process is worker 2 of 3")
        }, "\(fresh.outputLines.suffix(10))")
        let single = try worker(0, of: 1)
        defer { single.kill() }
        #expect(single.waitForExit(timeout: 30).map { $0 != 0 } == true, "\(single.outputLines.suffix(10))")
        #expect(single.outputLines.contains { $0.contains("this process is worker 0 of 1") }, "\(single.outputLines.suffix(10))")

        // The same two workers go on; every record is still in the output exactly once.
        try produce(broker: broker, topic: input, range: records..<(2 * records), pause: 0)
        let again = try (0..<2).map { try worker($0, of: 2) }
        defer { again.forEach { $0.kill() } }
        var seen = try waitForAll(Self.partitions * 2 * records)
        Thread.sleep(forTimeInterval: 1)
        seen = try committed(broker: broker, topic: output)
        for partition in 0..<Int32(Self.partitions) {
            #expect((seen[partition] ?? []).sorted() == (0..<(2 * records)).map { "p\(partition)-\($0)" }.sorted(),
                    "partition \(partition): \((seen[partition] ?? []).count) records")
        }
        let allRunning = again.allSatisfy { $0.isRunning }
        #expect(allRunning, "\(again.map { $0.outputLines.suffix(5) })")
    }

    /// Issue 15: a deployment of pass-through workers rescaled 3 -> 2 -> 3 with --rescale-from-workers,
    /// input arriving throughout. Worker 2 of 3 is SIGKILLed after its third checkpoint completed and
    /// before its transactions were committed: the two workers that follow must commit what its
    /// checkpoint promised before anyone aborts its transactional ids (worker 2 no longer exists,
    /// so worker 0 of 2 aborts them). The oracle must see every input record exactly once.
    @Test func rescalingThreeToTwoToThreeWorkersWritesEveryRecordOnce() throws {
        let broker = try EmbeddedBroker.start()
        defer { broker.stop() }
        let input = EmbeddedBroker.uniqueName("rescale-in")
        let output = EmbeddedBroker.uniqueName("rescale-out")
        let prefix = EmbeddedBroker.uniqueName("rescale")
        let configs = ["retention.ms": "-1", "retention.bytes": "-1"]
        for topic in [input, output] { try broker.createTopic(topic, partitions: Self.partitions, configs: configs) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-rescale-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        var launches = 0
        func worker(_ index: Int, of workers: Int, from old: Int? = nil, environment: [String: String] = [:]) throws -> ChildProcess {
            launches += 1
            return try ChildProcess(
                executable: try BuiltProducts.path(of: "pass-through-job"),
                arguments: [
                    "--bootstrap", broker.bootstrap, "--input-topic", input, "--output-topic", output,
                    "--workers", String(workers), "--worker-index", String(index), "-p", "2",
                    "--checkpoint-dir", folder + "/checkpoints", "--checkpoint-interval", "300ms",
                    "--transactional-id-prefix", prefix, "--hold-back-while-commit-pending",
                ] + (old.map { ["--rescale-from-workers", String($0)] } ?? []),
                environment: environment, logPath: folder + "/worker-\(index)-of-\(workers)-\(launches).log")
        }
        func waitForAll(_ count: Int, _ running: [ChildProcess]) throws -> [Int32: [String]] {
            let deadline = Date().addingTimeInterval(40)
            var seen = try committed(broker: broker, topic: output)
            while seen.values.map(\.count).reduce(0, +) < count, Date() < deadline, running.allSatisfy(\.isRunning) {
                Thread.sleep(forTimeInterval: 0.2)
                seen = try committed(broker: broker, topic: output)
            }
            return seen
        }
        let phase = 100
        try produce(broker: broker, topic: input, range: 0..<phase, pause: 0)
        // 3 workers; worker 2 dies holding a promised transaction while input still arrives.
        let three = try (0..<2).map { try worker($0, of: 3) }
        defer { three.forEach { $0.kill() } }
        let doomed = try worker(2, of: 3, environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:3"])
        defer { doomed.kill() }
        let producing = Thread { try? produce(broker: broker, topic: input, range: phase..<(2 * phase), pause: 0.02) }
        producing.start()
        #expect(doomed.waitForExit(timeout: 60) != nil, "worker 2 did not crash: \(doomed.outputLines.suffix(10))")
        #expect(doomed.outputLines.contains { $0.contains("crash point afterCheckpointCompleteBeforeCommit at checkpoint 3") })
        _ = try waitForAll(Self.partitions * 2 * phase - 2 * phase, three)  // partition 2 is worker 2's
        three.forEach { $0.terminate(timeout: 20) }

        // 2 workers from the 3.
        let two = try (0..<2).map { try worker($0, of: 2, from: 3) }
        defer { two.forEach { $0.kill() } }
        try produce(broker: broker, topic: input, range: (2 * phase)..<(3 * phase), pause: 0.01)
        _ = try waitForAll(Self.partitions * 3 * phase, two)
        #expect(two[0].outputLines.contains { $0.contains("workers that no longer exist left open") }, "\(two[0].outputLines.suffix(10))")
        // Worker 2's promised transaction was committed by a worker of the two (the other found it committed).
        let recommitted = two.contains { $0.outputLines.contains { $0.contains("Committed recovered transaction \(prefix)-w2-") } }
        #expect(recommitted, "\(two.map { $0.outputLines.filter { $0.contains("recovered transaction") } })")
        for process in two { #expect(process.isRunning, "\(process.outputLines.suffix(10))") }
        two.forEach { $0.terminate(timeout: 20) }

        // 3 workers again from the 2.
        let again = try (0..<3).map { try worker($0, of: 3, from: 2) }
        defer { again.forEach { $0.kill() } }
        try produce(broker: broker, topic: input, range: (3 * phase)..<(4 * phase), pause: 0.01)
        var seen = try waitForAll(Self.partitions * 4 * phase, again)
        Thread.sleep(forTimeInterval: 1)
        seen = try committed(broker: broker, topic: output)
        for partition in 0..<Int32(Self.partitions) {
            let values = seen[partition] ?? []
            let expected = (0..<(4 * phase)).map { "p\(partition)-\($0)" }
            let missing = Set(expected).subtracting(values)
            let duplicated = Dictionary(grouping: values, by: { $0 }).filter { $0.value.count > 1 }.keys
            #expect(values.sorted() == expected.sorted(),
                    "partition \(partition): \(values.count) records, missing \(missing.sorted().prefix(5)), duplicated \(duplicated.sorted().prefix(5))")
        }
        for process in again { #expect(process.isRunning, "\(process.outputLines.suffix(10))") }
    }

    /// Records p<partition>-<i> for i in `range`, into each partition, keyed by partition.
    func produce(broker: EmbeddedBroker, topic: String, range: Range<Int>, pause: TimeInterval) throws {
        var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
        configuration.enableIdempotence = true
        let producer = try KafkaProducer(configuration: configuration)
        for index in range {
            for partition in 0..<Self.partitions {
                try producer.produce(ProducerRecord(topic: topic, partition: Int32(partition), value: Array("p\(partition)-\(index)".utf8)))
            }
            if pause > 0, index % 10 == 0 {
                try producer.flush(timeout: .seconds(10))
                Thread.sleep(forTimeInterval: pause * 10)
            }
        }
        try producer.flush(timeout: .seconds(10))
        producer.close()
    }

    /// Committed output values per partition, read honouring transaction markers.
    func committed(broker: EmbeddedBroker, topic: String) throws -> [Int32: [String]] {
        let log = try TransactionAwareLogReader(bootstrap: broker.bootstrap).readTopic(topic)
        var values: [Int32: [String]] = [:]
        for partition in log.partitions {
            values[partition.topicPartition.partition, default: []] += partition.committedRecords.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        }
        return values
    }
}
