import Foundation
import Synchronization
import Testing
@testable import SluiceRuntime

/// Records what reaches a task's chain head and when it snapshots, in order.
final class EventLog: Output<Int>, InputProcessorDelegate {
    var events: [String] = []
    override func collect(_ value: Int, timestamp: Int64?) throws { events.append("record \(value)") }
    func performCheckpoint(_ barrier: CheckpointBarrier) throws { events.append("snapshot \(barrier.checkpointId)") }
    func endOfData() throws { events.append("end") }
    func abandonCheckpoint(_ checkpointId: Int64, reason: String) { events.append("abandon \(checkpointId)") }
    func startUnalignedCheckpoint(_ barrier: CheckpointBarrier) throws { events.append("unaligned \(barrier.checkpointId)") }
    func completeUnalignedCheckpoint(_ checkpointId: Int64, channelState: [UInt8]) throws { events.append("in-flight \(checkpointId)") }
}

@Suite struct CheckpointOptionsTests {
    @Test func minPauseDelaysPeriodicCheckpoints() {
        let config = CheckpointConfig(interval: .milliseconds(10), minPauseBetweenCheckpoints: .milliseconds(100))
        #expect(config.nextPeriodicTrigger(lastTriggerAt: 0, lastEndedAt: nil) == 10)  // the first is not delayed
        #expect(config.nextPeriodicTrigger(lastTriggerAt: 10, lastEndedAt: 15) == 115)
        #expect(config.nextPeriodicTrigger(lastTriggerAt: 200, lastEndedAt: 15) == 210)  // interval dominates
        #expect(CheckpointConfig(interval: .milliseconds(10)).nextPeriodicTrigger(lastTriggerAt: 10, lastEndedAt: 15) == 20)
        #expect(CheckpointConfig().nextPeriodicTrigger(lastTriggerAt: 0, lastEndedAt: nil) == nil)
    }

    /// At least one checkpoint must be allowed in flight (more than one is supported, see
    /// ConcurrentCheckpointTests).
    @Test(arguments: [0, -1])
    func zeroOrNegativeConcurrentCheckpointsAreRefused(maxConcurrent: Int) {
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(interval: .milliseconds(100), maxConcurrentCheckpoints: maxConcurrent)))
        env.fromCollection([1]).sinkTo(CollectingSink(into: CollectedValues<Int>()))
        do {
            try env.execute()
            Issue.record("maxConcurrentCheckpoints \(maxConcurrent) was accepted")
        } catch {
            #expect("\(error)".contains("maxConcurrentCheckpoints is \(maxConcurrent)"))
        }
        #expect(throws: RuntimeConfigurationError.self) { try CheckpointConfig(minPauseBetweenCheckpoints: .milliseconds(-1)).validate() }
    }

    /// On a manual clock: checkpoint 1 at t=10; at t=500 the interval (10) has long passed but the
    /// minimum pause (1000) has not; checkpoint 2 starts at t=1010, then the final one is 3.
    @Test func minPauseInAJob() throws {
        let clock = ManualClock()
        let directory = temporaryDirectory("minpause")
        let gate = SourceGate()
        let env = StreamExecutionEnvironment(testConfiguration(
            checkpointing: CheckpointConfig(interval: .milliseconds(10), directory: directory, minPauseBetweenCheckpoints: .milliseconds(1_000)), clock: clock))
        env.fromSource(GatedSource(elements: Array(0..<100), gate: gate), name: "numbers")
            .sinkTo(CollectingSink(into: CollectedValues<Int>()))
        let job = try BackgroundJob(env)
        let storage = FileSystemCheckpointStorage(directory: directory)
        #expect(eventually { gate.readersOpened.load(ordering: .acquiring) == 1 })  // the coordinator started at t=0
        clock.advance(byMillis: 10)
        // Notified only after the coordinator noted when 1 ended (t=10), where the pause starts.
        #expect(eventually { gate.lastNotified.load(ordering: .acquiring) == 1 })
        clock.advance(byMillis: 490)  // t=500: the interval passed, the pause did not
        usleep(50_000)  // lets a coordinator that ignored the pause trigger at t=500 (no assertion on time)
        clock.advance(byMillis: 510)  // t=1010: checkpoint 1 ended at t=10, so the pause ends now
        #expect(eventually { FileManager.default.fileExists(atPath: storage.metadataPath(2)) })
        #expect(try storage.loadMetadata(2).timestamp == 1_010)
        gate.open(to: 100)
        let result = try job.result()
        #expect(result.status == .finished)
        #expect(result.lastCompletedCheckpoint == 3)
    }

    /// Barrier 1 arrives on channel 0 first, followed by a record; channel 1 is still before it.
    /// Exactly-once blocks channel 0 (the record waits until after the snapshot); at-least-once
    /// reads on (the record is in the snapshot).
    @Test(arguments: [true, false])
    func alignmentBlocksOnlyInExactlyOnceMode(aligned: Bool) throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let log = EventLog()
        let processor = InputProcessor(gate: gate, head: log, alignsBarriers: aligned)
        func drain() throws {
            while try processor.processNext(delegate: log, deadline: nil, wait: false) == .processed {}
        }
        let barrier = CheckpointBarrier(checkpointId: 1, timestamp: 0, isFinal: false)
        try gate.push([.barrier(barrier), .record(1, timestamp: nil)], channel: 0)
        try drain()
        #expect(log.events == (aligned ? [] : ["record 1"]))
        try gate.push([.record(2, timestamp: nil), .barrier(barrier)], channel: 1)
        try drain()
        #expect(log.events == (aligned ? ["record 2", "snapshot 1", "record 1"] : ["record 1", "record 2", "snapshot 1"]))
    }

    /// An at-least-once job with two input channels per task still checkpoints and, without
    /// failures, produces every result once.
    @Test func atLeastOnceJobCompletes() throws {
        let words = (0..<400).map { "k\($0 % 5)" }
        let store = InMemoryTransactionalStore<String>()
        let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(mode: .atLeastOnce)))
        env.fromSource(CollectionSource(words, recordsPerPoll: 10, checkpointEvery: 50), name: "words", parallelism: 2)
            .keyBy { $0 }
            .process(name: "count", RunningCount()).setParallelism(2)
            .sinkTo(TransactionalCollectingSink(store: store), name: "sink", parallelism: 2)
        let result = try env.execute()
        #expect(result.status == .finished)
        #expect((result.lastCompletedCheckpoint ?? 0) > 2)
        var perKey: [String: Int] = [:]
        for value in store.committedValues {
            let key = String(value.prefix { $0 != ":" })
            perKey[key] = max(perKey[key] ?? 0, Int(value.split(separator: ":")[1]) ?? 0)
        }
        #expect(store.committedValues.count == words.count)
        #expect(perKey == Dictionary(uniqueKeysWithValues: (0..<5).map { ("k\($0)", 80) }))
    }
}
