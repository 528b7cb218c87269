import Foundation
import Synchronization
import Testing
@testable import SluiceRuntime

@Suite struct KeyGroupTests {
    @Test func stringsAndIntegersHashAsJavaDoes() {
        // Java's String.hashCode and Long.hashCode; they do not depend on the process seed.
        #expect("a".stableHash == 97)
        #expect("".stableHash == 0)
        #expect("hello".stableHash == 99_162_322)
        #expect(42.stableHash == Int64(42).stableHash)
        #expect(Int64(1 << 32 | 5).stableHash == 4)
    }

    @Test func asciiAndNonAsciiStringsHashOverTheirUTF16CodeUnits() {
        // ASCII strings are hashed from their UTF-8 bytes; anything else over UTF-16, as Java does.
        func javaHashCode(_ string: String) -> UInt64 {
            var hash: UInt32 = 0
            for unit in string.utf16 { hash = hash &* 31 &+ UInt32(unit) }
            return UInt64(hash)
        }
        let strings = [
            "", "a", "/page-17", "hello world", String(repeating: "/x", count: 200), "é", "/päge", "日本",
            "a😀b", "ascii then ü", String("abc/def".split(separator: "/")[1]),
        ]
        for string in strings { #expect(string.stableHash == javaHashCode(string), "\(string)") }
        #expect("é".stableHash == 233)
        #expect("😀".stableHash == 1_772_899)
    }

    @Test func keyGroupsMatchFlinksAssignment() {
        // Flink: KeyGroupRangeAssignment.assignToKeyGroup(key, 128) = murmurHash(key.hashCode()) % 128,
        // computed independently of this code.
        #expect(KeyGroups.keyGroup(for: "hello", maxParallelism: 128) == 35)
        #expect(KeyGroups.keyGroup(for: "/help", maxParallelism: 128) == 111)
        #expect(KeyGroups.keyGroup(for: "/news", maxParallelism: 128) == 38)
        #expect(KeyGroups.keyGroup(for: 42, maxParallelism: 128) == 29)
    }

    @Test func rangesPartitionAllKeyGroupsAndMatchAssignment() {
        for maxParallelism in [1, 7, 128] {
            for parallelism in 1...min(maxParallelism, 9) {
                var covered: [Int] = []
                for i in 0..<parallelism {
                    let range = KeyGroups.range(forSubtask: i, parallelism: parallelism, maxParallelism: maxParallelism)
                    for kg in range.start...max(range.start, range.end) where range.contains(kg) {
                        covered.append(kg)
                        #expect(KeyGroups.subtask(forKeyGroup: kg, parallelism: parallelism, maxParallelism: maxParallelism) == i)
                    }
                }
                #expect(covered == Array(0..<maxParallelism))
            }
        }
    }

    @Test func keyGroupsAreInRangeAndSpread() {
        var seen = Set<Int>()
        for i in 0..<10_000 {
            let kg = KeyGroups.keyGroup(for: "user-\(i)", maxParallelism: 128)
            #expect(kg >= 0 && kg < 128)
            seen.insert(kg)
        }
        #expect(seen.count == 128)
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

@Suite struct ChannelTests {
    @Test func fullChannelBlocksProducerUntilConsumed() throws {
        let inbox = TaskInbox()
        let gate = InputGate<Int>(inbox: inbox, channelCount: 1, capacity: 2)
        try gate.push([.record(1, timestamp: nil)], channel: 0)
        try gate.push([.record(2, timestamp: nil)], channel: 0)
        let done = Flag()
        let producer = Thread {
            _ = try? gate.push([.record(3, timestamp: nil)], channel: 0)
            done.set()
        }
        producer.start()
        #expect(eventually { gate.blockedProducers == 1 })
        #expect(!done.isSet)
        #expect(gate.queuedBatches(channel: 0) == 2)
        guard case .batch(_, let first) = gate.next(until: nil), case .record(let v, _) = first[0] else {
            Issue.record("expected a batch")
            return
        }
        #expect(v == 1)
        #expect(eventually { done.isSet })
        #expect(gate.queuedBatches(channel: 0) == 2)
    }

    @Test func cancelReleasesBlockedProducer() throws {
        let inbox = TaskInbox()
        let gate = InputGate<Int>(inbox: inbox, channelCount: 1, capacity: 1)
        try gate.push([], channel: 0)
        let threw = Flag()
        Thread {
            do { try gate.push([], channel: 0) } catch { threw.set() }
        }.start()
        #expect(eventually { gate.blockedProducers == 1 })
        inbox.cancel()
        #expect(eventually { threw.isSet })
    }
}

/// Records what reaches the head of a chain.
final class RecordingOutput: Output<Int> {
    var events: [String] = []
    override func collect(_ value: Int, timestamp: Int64?) throws { events.append("r\(value)") }
    override func emitWatermark(_ watermark: Int64) throws { events.append("w\(watermark)") }
    override func emitIdleStatus(_ idle: Bool) throws { events.append(idle ? "idle" : "active") }
}

final class RecordingDelegate: InputProcessorDelegate {
    let output: RecordingOutput
    init(output: RecordingOutput) { self.output = output }
    func performCheckpoint(_ barrier: CheckpointBarrier) throws { output.events.append("chk\(barrier.checkpointId)") }
    func endOfData() throws { output.events.append("eod") }
    func abandonCheckpoint(_ checkpointId: Int64, reason: String) { output.events.append("abandon\(checkpointId)") }
    func startUnalignedCheckpoint(_ barrier: CheckpointBarrier) throws { output.events.append("unaligned \(barrier.checkpointId)") }
    func completeUnalignedCheckpoint(_ checkpointId: Int64, channelState: [UInt8]) throws { output.events.append("in-flight \(checkpointId)") }
}

@Suite struct BarrierAlignmentTests {
    func barrier(_ id: Int64) -> StreamElement<Int> {
        .barrier(CheckpointBarrier(checkpointId: id, timestamp: 0, isFinal: false))
    }

    @Test func alignsTwoInputsBeforeSnapshotting() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let output = RecordingOutput()
        let delegate = RecordingDelegate(output: output)
        let processor = InputProcessor(gate: gate, head: output)
        // Channel 0 delivers its barrier early; its later records must wait for channel 1's barrier.
        try gate.push([.record(1, timestamp: nil), barrier(1), .record(2, timestamp: nil)], channel: 0)
        try gate.push([.record(3, timestamp: nil)], channel: 0)
        try gate.push([.record(10, timestamp: nil)], channel: 1)
        try gate.push([.record(11, timestamp: nil), barrier(1)], channel: 1)
        try gate.push([.record(12, timestamp: nil)], channel: 1)
        for _ in 0..<10 {
            if try processor.processNext(delegate: delegate, deadline: nil, wait: false) == .timeout { break }
        }
        let events = output.events
        guard let chk = events.firstIndex(of: "chk1") else {
            Issue.record("no checkpoint in \(events)")
            return
        }
        #expect(Set(events[..<chk]) == ["r1", "r10", "r11"])
        #expect(Set(events[(chk + 1)...]) == ["r2", "r3", "r12"])
    }

    @Test func finishedChannelCountsAsAlignedAndAbortUnblocks() throws {
        let gate = InputGate<Int>(inbox: TaskInbox(), channelCount: 2, capacity: 8)
        let output = RecordingOutput()
        let delegate = RecordingDelegate(output: output)
        let processor = InputProcessor(gate: gate, head: output)
        try gate.push([barrier(1), .record(1, timestamp: nil)], channel: 0)
        _ = try processor.processNext(delegate: delegate, deadline: nil, wait: false)
        #expect(output.events.isEmpty)
        processor.abortCheckpoint(1)
        _ = try processor.processNext(delegate: delegate, deadline: nil, wait: false)
        #expect(output.events == ["r1"])
        try gate.push([barrier(2)], channel: 0)
        try gate.push([.endOfPartition], channel: 1)
        while try processor.processNext(delegate: delegate, deadline: nil, wait: false) == .processed {}
        // Channel 1 ended, so barrier 2 of channel 0 alone completes the alignment; end of data
        // waits for channel 0's end too.
        #expect(output.events == ["r1", "chk2"])
    }

    @Test func watermarkIsMinimumOverNonIdleChannels() {
        var valve = WatermarkValve(channelCount: 2)
        #expect(valve.inputWatermark(100, channel: 0) == [])
        #expect(valve.inputWatermark(50, channel: 1) == [.watermark(50)])
        #expect(valve.inputWatermark(200, channel: 1) == [.watermark(100)])
        #expect(valve.inputIdleStatus(true, channel: 0) == [.watermark(200)])
        #expect(valve.inputIdleStatus(true, channel: 1) == [.idle])
        #expect(valve.inputWatermark(300, channel: 0) == [.active, .watermark(300)])
    }
}
