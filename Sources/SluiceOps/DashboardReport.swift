import Foundation
import SluiceRuntime

/// The JSON behind the job's web page (`GET /api/dashboard`): everything `/status` says, plus the
/// job graph, per-operator totals, the checkpoint history and the sink's transactions. Counts are
/// totals since the process started; the page turns successive totals into rates.
public struct DashboardReport: Codable, Sendable, Equatable {
    public struct OperatorCounts: Codable, Sendable, Equatable {
        public var name: String
        public var recordsIn: Int64
        public var recordsOut: Int64
        /// Time the operator's task spent blocked on full output channels.
        public var backpressuredMillis: Int64
    }

    public struct SinkTransactions: Codable, Sendable, Equatable {
        public var committed: Int64
        public var aborted: Int64
        /// Transactions a completed checkpoint promised but the broker had aborted: their records are lost.
        public var lost: Int64
    }

    public var job: String
    public var status: JobStatus
    /// When this process started serving (epoch millis); uptime is `nowMillis - startedAtMillis`.
    public var startedAtMillis: Int64
    public var nowMillis: Int64
    public var graph: JobGraphDescription?
    public var operators: [OperatorCounts]
    /// Completed checkpoints and savepoints of this process, oldest first.
    public var checkpoints: [CompletedSnapshotSummary]
    public var lag: [JobStatusReport.PartitionLag]
    public var sink: SinkTransactions
    /// The job takes savepoints over HTTP (`POST /savepoints`, `POST /stop`).
    public var acceptsSavepoints: Bool

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }
}

/// Where a running job's dashboard report comes from: its control (status and checkpoint
/// history), its graph, and the metrics captured while it runs.
public struct DashboardSource: Sendable {
    public let job: String
    public let control: JobControl
    public let graph: JobGraphDescription?
    public let status: StatusMetricsCapture
    public let counts: DashboardMetricsCapture
    public let acceptsSavepoints: Bool
    public let startedAtMillis: Int64

    public init(job: String, control: JobControl, graph: JobGraphDescription?, status: StatusMetricsCapture,
                counts: DashboardMetricsCapture, acceptsSavepoints: Bool, startedAt: Date = Date()) {
        self.job = job
        self.control = control
        self.graph = graph
        self.status = status
        self.counts = counts
        self.acceptsSavepoints = acceptsSavepoints
        self.startedAtMillis = Self.millis(startedAt)
    }

    public func report(now: Date = Date()) -> DashboardReport {
        DashboardReport(
            job: job, status: control.status, startedAtMillis: startedAtMillis, nowMillis: Self.millis(now), graph: graph,
            operators: counts.operatorCounts(names: graph?.vertices.map(\.name) ?? []),
            checkpoints: control.checkpointHistory.completed, lag: status.partitionLag(), sink: counts.sinkTransactions(),
            acceptsSavepoints: acceptsSavepoints)
    }

    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
}
