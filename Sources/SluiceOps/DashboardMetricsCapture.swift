import CoreMetrics
import Synchronization

/// A swift-metrics backend that keeps the running totals the dashboard shows — records in and out
/// and time backpressured per operator (the runtime's counters), and the Kafka sink's transactions
/// committed, aborted and lost — and ignores every other metric. Combine it with the Prometheus
/// factory through `MultiplexMetricsHandler`, as `StatusMetricsCapture`.
public final class DashboardMetricsCapture: MetricsFactory, Sendable {
    /// What the dashboard reads from one counter label.
    enum Measure: String, CaseIterable {
        case recordsIn = "sluice_records_in_total"
        case recordsOut = "sluice_records_out_total"
        case backpressuredNanos = "sluice_backpressured_time_nanoseconds_total"
        case committed = "sluice_sink_transactions_committed"
        case aborted = "sluice_sink_transactions_aborted"
        case lost = "sluice_sink_transactions_lost"
    }

    /// Totals by measure, then by operator ("" when the metric names none).
    private let totals = Mutex<[Measure: [String: Int64]]>([:])

    public init() {}

    /// Per operator, in the order of `names` (operators without counts yet show zeros).
    public func operatorCounts(names: [String]) -> [DashboardReport.OperatorCounts] {
        let totals = self.totals.withLock { $0 }
        return names.map { name in
            DashboardReport.OperatorCounts(
                name: name, recordsIn: totals[.recordsIn]?[name] ?? 0, recordsOut: totals[.recordsOut]?[name] ?? 0,
                backpressuredMillis: (totals[.backpressuredNanos]?[name] ?? 0) / 1_000_000)
        }
    }

    /// The sink's transactions, summed over its subtasks.
    public func sinkTransactions() -> DashboardReport.SinkTransactions {
        let totals = self.totals.withLock { $0 }
        func sum(_ measure: Measure) -> Int64 { totals[measure]?.values.reduce(0, +) ?? 0 }
        return .init(committed: sum(.committed), aborted: sum(.aborted), lost: sum(.lost))
    }

    fileprivate func add(_ measure: Measure, operatorName: String, _ amount: Int64) {
        totals.withLock { $0[measure, default: [:]][operatorName, default: 0] += amount }
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let measure = Measure(rawValue: label) else { return NOOPMetricsHandler.instance }
        let operatorName = dimensions.first { $0.0 == "operator" }?.1 ?? ""
        return TotalCounter(capture: self, measure: measure, operatorName: operatorName)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
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

/// Adds to the capture's total; a counter of a restarted attempt keeps adding to the same total,
/// as Prometheus' counters do. `reset` is ignored: the dashboard shows totals since the process started.
private final class TotalCounter: CounterHandler, Sendable {
    let capture: DashboardMetricsCapture
    let measure: DashboardMetricsCapture.Measure
    let operatorName: String

    init(capture: DashboardMetricsCapture, measure: DashboardMetricsCapture.Measure, operatorName: String) {
        self.capture = capture
        self.measure = measure
        self.operatorName = operatorName
    }

    func increment(by amount: Int64) { capture.add(measure, operatorName: operatorName, amount) }
    func reset() {}
}
