import SluiceKafka
import SluiceRuntime

/// The Kafka sink a job writes to (Flink's `KafkaSink`): one type for every delivery guarantee,
/// chosen in its configuration. `stream.sinkTo(kafkaSink)` builds what the runtime runs per subtask:
/// a two-phase-commit sink for `.exactlyOnce(prefix:)` (`KafkaTwoPhaseCommitSink`), a flushing
/// writer for `.atLeastOnce` and `.none` (`KafkaNonTransactionalWriter`).
public struct KafkaSink<Input: Sendable>: Sendable {
    public typealias Serializer = @Sendable (Input) throws -> KafkaSinkRecord

    public let configuration: KafkaSinkConfiguration
    let serializer: Serializer

    public init(configuration: KafkaSinkConfiguration, serializer: @escaping Serializer) {
        self.configuration = configuration
        self.serializer = serializer
    }

    /// Checks the configuration against the job's checkpoint interval (the runtime configuration's):
    /// call it when building the job to refuse a bad configuration before anything starts. Each
    /// subtask checks again when it opens, with the interval the runtime gives it.
    public func validate(checkpointInterval: Duration?) throws(KafkaSinkError) {
        try configuration.validate(checkpointInterval: checkpointInterval)
    }
}

extension DataStream {
    /// Writes the stream to Kafka with the sink's delivery guarantee.
    @discardableResult
    public func sinkTo(_ sink: KafkaSink<T>, name: String = "Sink", parallelism: Int? = nil) -> DataStreamSink {
        let configuration = sink.configuration
        let serializer = sink.serializer
        switch configuration.deliveryGuarantee {
        case .exactlyOnce(let prefix):
            return sinkTo(
                KafkaTwoPhaseCommitSink(configuration: configuration, prefix: prefix, serializer: serializer),
                name: name, parallelism: parallelism)
        case .atLeastOnce, .none:
            return sinkTo(KafkaNonTransactionalWriter(configuration: configuration, serializer: serializer), name: name, parallelism: parallelism)
        }
    }
}

extension KafkaSinkRecord {
    func producerRecord(defaultTopic: String, timestamp: Int64?) -> ProducerRecord {
        ProducerRecord(
            topic: topic ?? defaultTopic, partition: partition, key: key, value: value, headers: headers,
            timestamp: self.timestamp ?? timestamp)
    }
}
