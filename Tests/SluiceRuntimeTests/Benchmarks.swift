import Foundation
import Logging
import Testing
@testable import SluiceRuntime

/// Counts records without keeping them.
final class CountingSink<T: Sendable>: SinkWriter {
    typealias Input = T
    let total: CollectedValues<Int>
    var count = 0
    init(total: CollectedValues<Int>) { self.total = total }
    func write(_ value: T, timestamp: Int64?) throws { count += 1 }
    func flush() throws {}
    func close() throws { total.append(contentsOf: [count]) }
}

/// Throughput and snapshot speed. Measurements, not assertions: run only with SLUICE_BENCH=1,
/// ideally in release: `swift test -c release -Xswiftc -enable-testing --filter Benchmarks`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_BENCH"] != nil), .serialized)
struct Benchmarks {
    func configuration() -> RuntimeConfiguration {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return RuntimeConfiguration(jobName: "bench", logger: logger, faultInjector: .disabled)
    }

    func report(_ name: String, records: Int, seconds: Double) {
        print(String(format: "BENCH %@: %d records in %.3f s = %.0f records/s", name, records, seconds, Double(records) / seconds))
    }

    func time(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func mapChain() throws {
        let n = 4_000_000
        let elements = Array(0..<n)
        for chained in [true, false] {
            var config = configuration()
            config.chaining = chained
            let env = StreamExecutionEnvironment(config)
            let total = CollectedValues<Int>()
            env.fromSource(CollectionSource(elements, recordsPerPoll: 1024), name: "numbers")
                .map { $0 &* 3 }
                .map { $0 &+ 1 }
                .filter { $0 & 1 == 0 }
                .sinkTo(CountingSink<Int>(total: total))
            let seconds = try time { try env.execute() }
            #expect(total.values == [n / 2])
            report(chained ? "map chain, chained (1 thread)" : "map chain, unchained (5 threads)", records: n, seconds: seconds)
        }
    }

    @Test func keyedCount() throws {
        let n = 2_000_000
        let elements = (0..<n).map { $0 % 10_000 }
        var config = configuration()
        config.defaultParallelism = 2
        let env = StreamExecutionEnvironment(config)
        let total = CollectedValues<Int>()
        env.fromSource(CollectionSource(elements, recordsPerPoll: 1024), name: "numbers", parallelism: 1)
            .keyBy { $0 }
            .window(TumblingProcessingTimeWindows(sizeMillis: 3_600_000))
            .count()
            .sinkTo(CountingSink<WindowResult<Int, Int>>(total: total))
        let seconds = try time { try env.execute() }
        report("keyBy -> window count (parallelism 2)", records: n, seconds: seconds)
    }

    @Test func snapshotOfAMillionKeys() throws {
        let keys = 1_000_000
        let backend = HeapKeyedStateBackend<Int>(
            keyGroupRange: KeyGroupRange(start: 0, end: 127), maxParallelism: 128,
            keySerializer: AnyStateSerializer(BinaryCodableSerializer<Int>()))
        let state = try backend.valueState(ValueStateDescriptor<Int>("count"))
        for key in 0..<keys {
            backend.setCurrentKey(key)
            state.update(key &* 7)
        }
        let storage = FileSystemCheckpointStorage(directory: temporaryDirectory("bench"))
        var blob: [UInt8] = []
        let snapshot = try time { blob = try backend.snapshot() }
        let write = try time { _ = try storage.writeState(checkpointId: 1, name: "count-0", blobs: [blob]) }
        print(String(format: "BENCH heap snapshot of %d keys: serialize %.3f s, write+fsync %.3f s, %d bytes", keys, snapshot, write, blob.count))
        let restored = HeapKeyedStateBackend<Int>(
            keyGroupRange: KeyGroupRange(start: 0, end: 63), maxParallelism: 128,
            keySerializer: AnyStateSerializer(BinaryCodableSerializer<Int>()))
        let restore = try time {
            try restored.restore(from: [blob])
            _ = try restored.valueState(ValueStateDescriptor<Int>("count"))
        }
        print(String(format: "BENCH restore of half the key groups: %.3f s", restore))
    }
}
