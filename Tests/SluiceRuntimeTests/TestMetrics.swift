import CoreMetrics
import Synchronization

/// A swift-metrics factory that keeps counter totals by label, for assertions.
final class TestMetrics: MetricsFactory, Sendable {
    private let totals = Mutex<[String: Int64]>([:])

    final class TestCounter: CounterHandler, Sendable {
        let key: String
        let owner: TestMetrics
        init(key: String, owner: TestMetrics) {
            self.key = key
            self.owner = owner
        }
        func increment(by amount: Int64) { owner.totals.withLock { $0[key, default: 0] += amount } }
        func reset() { owner.totals.withLock { $0[key] = 0 } }
    }

    final class Ignored: RecorderHandler, TimerHandler, Sendable {
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        TestCounter(key: label, owner: self)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Ignored() }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Ignored() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    /// Sum over all dimensions of counter `label`.
    func total(_ label: String) -> Int64 { totals.withLock { $0[label] ?? 0 } }
}
