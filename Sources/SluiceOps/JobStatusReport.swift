import Foundation
import SluiceRuntime

/// The JSON a job's `/status` shows: the runtime's `JobStatus` plus what its connectors report
/// through metrics (lag per partition, time backpressured), taken from a `StatusMetricsCapture`.
public struct JobStatusReport: Codable, Sendable, Equatable {
    /// Records between a source partition's position and its end.
    public struct PartitionLag: Codable, Sendable, Equatable {
        /// `topic-partition`, as Kafka tools print it.
        public var partition: String
        public var lag: Int64

        public init(partition: String, lag: Int64) {
            self.partition = partition
            self.lag = lag
        }
    }

    public var job: String
    public var status: JobStatus
    /// Per source partition, sorted by partition; empty until the source reports (every second).
    public var lag: [PartitionLag]
    /// Wall-clock milliseconds tasks spent blocked on full output channels since the process started.
    public var backpressuredMillis: Int64

    public init(job: String, status: JobStatus, lag: [PartitionLag] = [], backpressuredMillis: Int64 = 0) {
        self.job = job
        self.status = status
        self.lag = lag
        self.backpressuredMillis = backpressuredMillis
    }

    /// Lag summed over all partitions.
    public var totalLag: Int64 { lag.reduce(0) { $0 + $1.lag } }
    /// Time backpressured in seconds with one decimal, for terminal output.
    public var backpressuredSecondsText: String { String(format: "%.1f", Double(backpressuredMillis) / 1000) }

    /// The report with lag and backpressure read from `metrics`.
    public init(job: String, status: JobStatus, metrics: StatusMetricsCapture) {
        self.init(job: job, status: status, lag: metrics.partitionLag(), backpressuredMillis: metrics.backpressuredNanoseconds() / 1_000_000)
    }

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }

    public static func decode(_ bytes: [UInt8]) throws -> JobStatusReport {
        try JSONDecoder().decode(JobStatusReport.self, from: Data(bytes))
    }
}
