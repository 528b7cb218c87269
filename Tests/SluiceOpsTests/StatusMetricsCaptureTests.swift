import CoreMetrics
import Testing
@testable import SluiceOps
import SluiceRuntime

/// `/status` shows lag per partition and time backpressured from the metrics connectors already
/// report; everything else is ignored.
@Suite struct StatusMetricsCaptureTests {
    @Test func keepsTheLatestLagPerPartitionAndSumsBackpressure() throws {
        let capture = StatusMetricsCapture()
        let dims = [("job", "click-count"), ("subtask", "0")]
        let lag0 = Gauge(label: StatusMetricsCapture.lagLabel, dimensions: dims + [("partition", "input-0")], factory: capture)
        let lag1 = Gauge(label: StatusMetricsCapture.lagLabel, dimensions: dims + [("partition", "input-1")], factory: capture)
        lag1.record(40)
        lag0.record(120)
        lag0.record(15)
        #expect(capture.partitionLag() == [.init(partition: "input-0", lag: 15), .init(partition: "input-1", lag: 40)])

        let task0 = Counter(label: StatusMetricsCapture.backpressureLabel, dimensions: [("operator", "Map"), ("subtask", "0")], factory: capture)
        let task1 = Counter(label: StatusMetricsCapture.backpressureLabel, dimensions: [("operator", "Map"), ("subtask", "1")], factory: capture)
        task0.increment(by: 2_000_000)
        task1.increment(by: 3_000_000)
        task0.increment(by: 1_000_000)
        #expect(capture.backpressuredNanoseconds() == 6_000_000)
        Counter(label: "sluice_records_in_total", dimensions: [], factory: capture).increment(by: 99)
        Gauge(label: "other_gauge", dimensions: [("partition", "x-0")], factory: capture).record(5)
        #expect(capture.backpressuredNanoseconds() == 6_000_000)
        #expect(capture.partitionLag().count == 2)

        let report = JobStatusReport(job: "j", status: .init(), metrics: capture)
        #expect(report.backpressuredMillis == 6)
        #expect(try JobStatusReport.decode(report.json()) == report)
    }
}
