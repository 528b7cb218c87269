import Foundation
import SluiceClickCount
import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

/// Lingering transactions after a fresh start (issue 13, point 7), end to end with click-count-job:
/// a run at parallelism 4 is SIGKILLed with its sink transactions open, the checkpoint directory is
/// wiped, and the job starts again at parallelism 2 on new input. Nothing restored tells the new run
/// that subtasks 2 and 3 ever existed; only the declared `--sink-max-parallelism 4` makes it abort
/// their transactions. Without it, the embedded broker (which never times transactions out) holds
/// the last stable offset at their first record forever, and downstream read_committed readers stall.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct LingeringTransactionsTests {
    static let firstWindows = 10
    static let newWindows = 2
    static let crashAt: Int64 = 3
    /// How long after the fresh start a read_committed reader may take to see the new windows.
    static let visibleWithin: TimeInterval = 30

    @Test func aFreshStartAtLowerParallelismLetsReadCommittedConsumersSeeNewOutput() throws {
        // Four input partitions, so every source subtask at parallelism 4 has one (a subtask without
        // a split holds the watermark back until it is idle, 5 s).
        let scenario = try ClickCountScenario("lingering", partitions: 4)
        defer { scenario.tearDown() }
        // One output partition: every sink subtask writes to it, so one lingering transaction holds
        // back all new output (with more partitions, librdkafka's sticky partitioner could put all
        // new output beside the stuck partition, and the test would pass without the abort).
        let output = EmbeddedBroker.uniqueName("lingering-output")
        try scenario.broker.createTopic(output, partitions: 1, configs: ["retention.ms": "-1", "retention.bytes": "-1"])
        let outputPartition = TopicPartition(output, 0)
        // (This --output-topic comes after the scenario's own and replaces it.)
        let sinkArguments = ["--output-topic", output, "--sink-max-parallelism", "4"]

        // Run 1, parallelism 4: SIGKILLed after checkpoint 3 completed, before its transactions were
        // committed. At parallelism 4, /shop's windows are counted by subtask 2 and /help's by subtask 3.
        try scenario.generate(windows: Self.firstWindows, rate: 12_000, wait: false)
        let first = try scenario.startJob(
            parallelism: 4, environment: ["SLUICE_CRASH_AT": "afterCheckpointCompleteBeforeCommit:\(Self.crashAt)"],
            extraArguments: sinkArguments)
        #expect(first.waitForExit(timeout: 60) != nil, "the job did not crash: \(first.outputLines.suffix(5))")
        #expect(first.outputLines.contains { $0.contains("crash point afterCheckpointCompleteBeforeCommit at checkpoint \(Self.crashAt)") },
                "no crash line in: \(first.outputLines.suffix(10))")

        // Not vacuous: a transaction of subtask 2 or 3 is open and holds the last stable offset below the log end.
        let reader = try TransactionAwareLogReader(bootstrap: scenario.bootstrap)
        let promised = try CheckpointCommittables.read(
            snapshotAt: scenario.checkpointDirectory + "/chk-\(Self.crashAt)", as: TransactionCommittable.self
        ).entries.map(\.committable)
        let higherSubtasks = Set(promised.filter { (subtask(of: $0.transactionalId, prefix: scenario.transactionalIdPrefix) ?? 0) >= 2 }.map(\.producerId))
        let before = try reader.readPartition(outputPartition)
        let lingering = before.openTransactions.filter { higherSubtasks.contains($0.producerId) }
        let stuckAt = try #require(lingering.map(\.firstOffset).min(),
                                   "no transaction of subtask 2 or 3 open at the kill: promised \(promised.map(\.transactionalId)), open \(before.openTransactions)")
        #expect(before.brokerLastStableOffset <= stuckAt && stuckAt < before.highWatermark,
                "last stable offset \(before.brokerLastStableOffset), lingering from \(stuckAt), high watermark \(before.highWatermark)")
        print("lingering: \(lingering.count) open transactions of subtasks 2-3 at the kill, last stable offset \(before.brokerLastStableOffset) of \(before.highWatermark)")

        // A downstream reader, there all along: librdkafka, read_committed.
        let downstream = try DownstreamConsumer(bootstrap: scenario.bootstrap, partition: outputPartition)
        defer { downstream.close() }

        // The checkpoint directory is wiped; new input continues the event sequence.
        #expect(scenario.generator?.waitForExit(timeout: 60) == 0, "the first generator failed")
        try FileManager.default.removeItem(atPath: scenario.checkpointDirectory)
        try FileManager.default.createDirectory(atPath: scenario.checkpointDirectory, withIntermediateDirectories: true)
        let startIndex = Int64(Self.firstWindows) * ClickEventSequence.eventsPerWindowAllPages + 600  // the generator's default tail
        let more = try ChildProcess(
            executable: try BuiltProducts.path(of: "click-generator"),
            arguments: ["--bootstrap", scenario.bootstrap, "--topic", scenario.inputTopic, "--windows", String(Self.newWindows),
                        "--rate", "0", "--start-index", String(startIndex)],
            logPath: scenario.logDirectory + "/generator-2.log")
        #expect(more.waitForExit(timeout: 60) == 0, "the second generator failed: \(more.outputLines.suffix(5))")

        // Run 2, parallelism 2, fresh (no checkpoint): it reads the input from the start.
        let started = Date()
        let second = try scenario.startJob(parallelism: 2, extraArguments: sinkArguments)
        let size = ClickEventSequence.windowSizeMilliseconds
        let newWindowStarts = Set((Self.firstWindows..<(Self.firstWindows + Self.newWindows)).map { Int64($0) * size })
        let expected = Set(newWindowStarts.flatMap { start in ClickEventSequence.pages.map { WindowPage(windowStart: start, page: $0) } })
        var newOutput: [ClickEventStatistics] = []
        let deadline = started.addingTimeInterval(Self.visibleWithin)
        while Set(newOutput.map(WindowPage.init)) != expected && Date() < deadline {
            newOutput += try downstream.poll().compactMap { ClickEventStatistics.decode($0) }.filter { newWindowStarts.contains($0.windowStart) }
        }
        let seconds = Date().timeIntervalSince(started)
        let seen = Set(newOutput.map(WindowPage.init))
        print("lingering: the read_committed reader saw \(seen.count) of \(expected.count) new (window, page) records \(String(format: "%.1f", seconds)) s after the fresh start")
        if seen != expected {
            let stuck = try reader.readPartition(outputPartition)
            let said = scenario.jobLog(2).split(separator: "\n").filter { $0.contains("without a checkpoint") || $0.contains("Aborted leftovers") }
            Issue.record("""
                within \(Int(Self.visibleWithin)) s a read_committed reader saw \(seen.count) of the \(expected.count) new records: \
                last stable offset \(stuck.brokerLastStableOffset) of \(stuck.highWatermark), open transactions from \
                \(stuck.openTransactions.map(\.firstOffset)); the job said: \(said.joined(separator: " | "))
                """)
        }
        #expect(newOutput.allSatisfy { $0.count == ClickEventSequence.eventsPerWindow } && newOutput.count == seen.count,
                "new windows not exact: \(newOutput)")
        #expect(second.isRunning, "the job ended: \(second.outputLines.suffix(10))")
        second.terminate(timeout: 10)

        // The lingering transactions were aborted (not committed), by initialising the ids of subtasks 2 and 3.
        let after = try reader.readPartition(outputPartition)
        for transaction in lingering {
            let now = after.transactions.first { $0.producerId == transaction.producerId && $0.firstOffset == transaction.firstOffset }
            #expect(now?.state == .aborted, "the lingering transaction from offset \(transaction.firstOffset) is \(String(describing: now?.state))")
        }
        let log = scenario.jobLog(2)
        #expect(log.contains("Aborted leftovers of transactional id \(scenario.transactionalIdPrefix)-2-")
                    && log.contains("Aborted leftovers of transactional id \(scenario.transactionalIdPrefix)-3-"),
                "no abort of subtasks 2 and 3's ids in the job log")
    }

    struct WindowPage: Hashable {
        let windowStart: Int64
        let page: String

        init(windowStart: Int64, page: String) {
            self.windowStart = windowStart
            self.page = page
        }

        init(_ statistics: ClickEventStatistics) {
            self.init(windowStart: statistics.windowStart, page: statistics.page)
        }
    }

    /// The sink subtask in a transactional id `<prefix>-<subtask>-<slot>`.
    func subtask(of transactionalId: String, prefix: String) -> Int? {
        guard transactionalId.hasPrefix(prefix + "-") else { return nil }
        return transactionalId.dropFirst(prefix.count + 1).split(separator: "-").first.flatMap { Int($0) }
    }
}

/// A downstream consumer as an application would run it: librdkafka with isolation.level=read_committed,
/// from the beginning of one partition. (The embedded broker also hands it aborted records: only
/// what lies below the last stable offset ever reaches it, which is what this test is about.)
final class DownstreamConsumer {
    private let consumer: KafkaConsumer

    init(bootstrap: String, partition: TopicPartition) throws {
        var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
        configuration.groupId = EmbeddedBroker.uniqueName("downstream")
        configuration.isolationLevel = .readCommitted
        configuration.fetchQueueBackoff = .milliseconds(10)
        configuration["fetch.wait.max.ms"] = "100"
        consumer = try KafkaConsumer(configuration: configuration)
        try consumer.assign([partition: KafkaOffset.beginning])
    }

    /// The values handed out within one poll.
    func poll() throws -> [[UInt8]] {
        try consumer.pollRecords(timeout: .milliseconds(200)).compactMap(\.value)
    }

    func close() { consumer.close() }
}
