import Foundation
import Metrics

/// The runtime's metrics, created through one injectable swift-metrics factory.
/// Labels: `sluice_records_in_total`, `sluice_records_out_total`,
/// `sluice_backpressured_time_nanoseconds_total`, `sluice_late_records_dropped_total`,
/// `sluice_checkpoint_duration` (timer), `sluice_checkpoint_size_bytes` (recorder),
/// `sluice_checkpoints_completed_total`, `sluice_checkpoints_aborted_total`, `sluice_restarts_total`.
struct RuntimeMetrics: Sendable {
    let factory: any MetricsFactory
    let jobName: String

    func dimensions(operatorID: String, subtask: Int) -> [(String, String)] {
        [("job", jobName), ("operator", operatorID), ("subtask", String(subtask))]
    }

    func counter(_ label: String, operatorID: String, subtask: Int) -> Counter {
        Counter(label: label, dimensions: dimensions(operatorID: operatorID, subtask: subtask), factory: factory)
    }

    func jobCounter(_ label: String) -> Counter {
        Counter(label: label, dimensions: [("job", jobName)], factory: factory)
    }

    var checkpointDuration: Metrics.Timer {
        Metrics.Timer(label: "sluice_checkpoint_duration", dimensions: [("job", jobName)], factory: factory)
    }

    var checkpointSize: Recorder {
        Recorder(label: "sluice_checkpoint_size_bytes", dimensions: [("job", jobName)], aggregate: false, factory: factory)
    }
}
