import CoreMetrics
import Synchronization

/// A swift-metrics backend that keeps the latest values of the few metrics `/status` shows — the
/// Kafka source's `sluice_source_kafka_lag` gauge per partition and the runtime's
/// `sluice_backpressured_time_nanoseconds_total` counters — and ignores the rest. Combine it with
/// the Prometheus factory through `MultiplexMetricsHandler`; any job whose connectors report lag
/// as that gauge gets lag in its status without further wiring.
public final class StatusMetricsCapture: MetricsFactory, Sendable {
    public static let lagLabel = "sluice_source_kafka_lag"
    public static let backpressureLabel = "sluice_backpressured_time_nanoseconds_total"

    private struct Values {
        /// Lag by partition name (the `partition` dimension).
        var lag: [String: Int64] = [:]
        /// Backpressured nanoseconds by the metric's dimensions.
        var backpressure: [String: Int64] = [:]
    }
    private let values = Mutex(Values())

    public init() {}

    /// Lag per partition, sorted by partition name.
    public func partitionLag() -> [JobStatusReport.PartitionLag] {
        values.withLock { $0.lag }.map { JobStatusReport.PartitionLag(partition: $0.key, lag: $0.value) }
            .sorted { $0.partition < $1.partition }
    }

    /// Nanoseconds backpressured, summed over every task.
    public func backpressuredNanoseconds() -> Int64 {
        values.withLock { $0.backpressure.values.reduce(0, +) }
    }

    fileprivate func recordLag(partition: String, _ value: Int64) {
        values.withLock { $0.lag[partition] = value }
    }

    fileprivate func addBackpressure(key: String, _ amount: Int64) {
        values.withLock { $0.backpressure[key, default: 0] += amount }
    }

    fileprivate func resetBackpressure(key: String) {
        values.withLock { $0.backpressure[key] = 0 }
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard label == Self.backpressureLabel else { return NOOPMetricsHandler.instance }
        return BackpressureCounter(capture: self, key: dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ","))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard label == Self.lagLabel, let partition = dimensions.first(where: { $0.0 == "partition" })?.1 else {
            return NOOPMetricsHandler.instance
        }
        return LagRecorder(capture: self, partition: partition)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        NOOPMetricsHandler.instance
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        NOOPMetricsHandler.instance
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        NOOPMetricsHandler.instance
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}

private final class BackpressureCounter: CounterHandler, Sendable {
    let capture: StatusMetricsCapture
    let key: String

    init(capture: StatusMetricsCapture, key: String) {
        self.capture = capture
        self.key = key
    }

    func increment(by amount: Int64) { capture.addBackpressure(key: key, amount) }
    func reset() { capture.resetBackpressure(key: key) }
}

private final class LagRecorder: RecorderHandler, Sendable {
    let capture: StatusMetricsCapture
    let partition: String

    init(capture: StatusMetricsCapture, partition: String) {
        self.capture = capture
        self.partition = partition
    }

    func record(_ value: Int64) { capture.recordLag(partition: partition, value) }
    func record(_ value: Double) { capture.recordLag(partition: partition, Int64(value)) }
}
