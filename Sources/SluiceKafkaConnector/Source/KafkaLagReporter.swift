import Metrics
import SluiceKafka

/// `sluice_source_kafka_lag{partition=...}`: records between a source subtask's position and the
/// partition's end, from its consumer's latest statistics, at most once a second.
struct KafkaLagReporter {
    let dimensions: [(String, String)]
    let factory: any MetricsFactory
    private var gauges: [TopicPartition: Gauge] = [:]
    private var lastReport = ContinuousClock.now

    init(dimensions: [(String, String)], factory: any MetricsFactory) {
        self.dimensions = dimensions
        self.factory = factory
    }

    mutating func report(_ consumer: KafkaConsumer, partitions: some Sequence<TopicPartition>) {
        guard ContinuousClock.now - lastReport >= .seconds(1) else { return }
        lastReport = .now
        guard let statistics = consumer.statistics else { return }
        for tp in partitions {
            guard let lag = statistics.partition(tp)?.consumerLag, lag >= 0 else { continue }
            let gauge = gauges[tp] ?? Gauge(
                label: "sluice_source_kafka_lag", dimensions: dimensions + [("partition", tp.description)], factory: factory)
            gauges[tp] = gauge
            gauge.record(lag)
        }
    }
}
