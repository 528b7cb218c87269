import Metrics
import SluiceKafka
import SluiceRuntime

/// `KafkaSink` without transactions, as the runtime sees it: `.atLeastOnce` flushes an idempotent
/// producer at every checkpoint barrier, so a completed checkpoint never loses records (duplicates
/// are possible after a failure); `.none` never waits.
final class KafkaNonTransactionalWriter<Input: Sendable>: SinkWriter {
    let configuration: KafkaSinkConfiguration
    let serializer: KafkaSink<Input>.Serializer
    private var producer: KafkaProducer?
    private var unwritable: UnwritableRecordHandler?

    init(configuration: KafkaSinkConfiguration, serializer: @escaping KafkaSink<Input>.Serializer) {
        self.configuration = configuration
        self.serializer = serializer
    }

    func open(_ context: SinkContext<Never>) throws {
        try configuration.validate(checkpointInterval: context.checkpointInterval)
        do {
            producer = try KafkaProducer(
                configuration: configuration.producerConfiguration(transactionalId: nil, clientId: "sluice-sink-\(context.subtaskIndex)"),
                deliveryReports: .collectFailures, logger: context.logger)
        } catch {
            throw KafkaSinkError.kafka(error, context: "creating the sink's producer")
        }
        unwritable = UnwritableRecordHandler(
            configuration: configuration,
            counter: Counter(label: "sluice_sink_unwritable_records", dimensions: context.metricDimensions, factory: context.metricsFactory),
            logger: context.logger)
    }

    func write(_ value: Input, timestamp: Int64?) throws {
        guard let producer, let unwritable else { throw KafkaSinkError.invalidConfiguration("the sink was not opened") }
        guard let record = try unwritable.prepare(value, timestamp: timestamp, checkpointId: nil, serializer: serializer) else { return }
        do {
            try producer.produce(record)
        } catch {
            let context = "writing to '\(record.topic)'"
            // A dead letter goes through the same producer: delivered with the output, at least once.
            guard let deadLetter = try unwritable.refused(record, error, checkpointId: nil, context: context) else { return }
            do {
                try producer.produce(deadLetter)
            } catch {
                throw KafkaSinkError.kafka(error, context: "writing a dead letter to '\(deadLetter.topic)'")
            }
        }
    }

    func flush() throws {
        guard configuration.deliveryGuarantee != .none, let producer else { return }
        do {
            try producer.flush(timeout: .seconds(60))
        } catch {
            throw KafkaSinkError.kafka(error, context: "flushing at the checkpoint barrier")
        }
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        if !failures.isEmpty { throw KafkaSinkError.deliveryFailed(count: failures.count, first: failures.first?.error) }
    }

    func close() throws {
        producer?.close(flushTimeout: .seconds(10))
        producer = nil
    }
}
