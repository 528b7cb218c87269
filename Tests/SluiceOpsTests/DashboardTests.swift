import CoreMetrics
import Foundation
import Logging
import Prometheus
import SluiceRuntime
import Testing
@testable import SluiceOps
import NIOHTTP1

/// The web view's routes and data: the page itself, its JSON from the captured metrics and the
/// job's control, and the rule for write requests that carry an Origin.
@Suite struct DashboardTests {
    @Test func servesThePageAndItsData() throws {
        let counts = DashboardMetricsCapture()
        let source = DashboardSource(
            job: "test-job", control: JobControl(),
            graph: JobGraphDescription(
                vertices: [.init(id: 0, name: "in", role: "source", parallelism: 2, chain: 0),
                           .init(id: 1, name: "out", role: "sink", parallelism: 1, chain: 1)],
                edges: [.init(source: 0, target: 1, partitioning: "rebalance")]),
            status: StatusMetricsCapture(), counts: counts, acceptsSavepoints: true)
        let server = try StatusServer.start(port: 0, registry: PrometheusCollectorRegistry(), status: { Array("{}".utf8) },
                                            dashboard: { source.report().json() }, logger: Logger(label: "test"))
        defer { server.stop() }
        let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)/status", timeoutSeconds: 10)

        let (pageStatus, page) = try client.request(.GET, "/")
        let html = String(decoding: page, as: UTF8.self)
        #expect(pageStatus == 200)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("id=\"graph\"") && html.contains("api/dashboard"))
        // Self-contained: nothing loaded from another address.
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"))

        let (dataStatus, data) = try client.request(.GET, "/api/dashboard")
        #expect(dataStatus == 200)
        let report = try JSONDecoder().decode(DashboardReport.self, from: Data(data))
        #expect(report.job == "test-job")
        #expect(report.graph?.vertices.map(\.name) == ["in", "out"])
        #expect(report.operators.map(\.name) == ["in", "out"])
        #expect(report.acceptsSavepoints)
        #expect(try client.request(.POST, "/").0 == 405)
        #expect(try client.request(.POST, "/api/dashboard").0 == 405)
    }

    @Test func sumsRecordsBackpressureAndTransactionsPerOperator() {
        let counts = DashboardMetricsCapture()
        func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: label, dimensions: dimensions, factory: counts)
        }
        for subtask in ["0", "1"] {
            counter("sluice_records_out_total", [("job", "j"), ("operator", "in"), ("subtask", subtask)]).increment(by: 100)
            counter("sluice_records_in_total", [("job", "j"), ("operator", "out"), ("subtask", subtask)]).increment(by: 40)
            counter("sluice_backpressured_time_nanoseconds_total", [("job", "j"), ("operator", "in"), ("subtask", subtask)])
                .increment(by: 1_500_000_000)
            counter("sluice_sink_transactions_committed", [("operator", "out"), ("subtask", subtask)]).increment(by: 3)
        }
        counter("sluice_sink_transactions_aborted", [("operator", "out"), ("subtask", "0")]).increment()
        counter("sluice_unrelated_total", [("operator", "in")]).increment(by: 9)

        let operators = counts.operatorCounts(names: ["in", "out", "idle"])
        #expect(operators.map(\.recordsOut) == [200, 0, 0])
        #expect(operators.map(\.recordsIn) == [0, 80, 0])
        #expect(operators.map(\.backpressuredMillis) == [3000, 0, 0])
        #expect(counts.sinkTransactions() == .init(committed: 6, aborted: 1, lost: 0))
    }

    @Test func acceptsAnOriginOnlyFromTheServersOwnPage() {
        // Same origin on a loopback name: the page served from there.
        #expect(DashboardOriginRule.allows(origin: "http://127.0.0.1:8081", host: "127.0.0.1:8081", tokenValid: false))
        #expect(DashboardOriginRule.allows(origin: "http://localhost:8081", host: "LOCALHOST:8081", tokenValid: false))
        #expect(DashboardOriginRule.allows(origin: "http://[::1]:8081", host: "[::1]:8081", tokenValid: false))
        // Another site, or another port of this host.
        #expect(!DashboardOriginRule.allows(origin: "http://evil.example", host: "127.0.0.1:8081", tokenValid: true))
        #expect(!DashboardOriginRule.allows(origin: "http://127.0.0.1:9999", host: "127.0.0.1:8081", tokenValid: true))
        #expect(!DashboardOriginRule.allows(origin: "http://127.0.0.1:8081", host: nil, tokenValid: true))
        // A rebound name is same-origin but no loopback name: only with the token.
        #expect(!DashboardOriginRule.allows(origin: "http://evil.example:8081", host: "evil.example:8081", tokenValid: false))
        #expect(!DashboardOriginRule.allows(origin: "http://127.0.0.1.evil.example:8081", host: "127.0.0.1.evil.example:8081", tokenValid: false))
        #expect(DashboardOriginRule.allows(origin: "http://job.internal:8081", host: "job.internal:8081", tokenValid: true))
    }
}
