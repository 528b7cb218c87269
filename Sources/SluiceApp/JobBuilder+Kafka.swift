// The one file that builds Kafka clients for SluiceApp jobs: each gets the job's bootstrap
// servers and client settings (--client-config, -X), and sinks the job's delivery guarantee.
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime

extension JobBuilder {
    /// A Kafka source reading `topics` from their earliest offsets (on a fresh start; restored
    /// jobs continue from their checkpoint). `decode` returns nil to drop a record and throws to
    /// reject it as malformed (`malformed` decides: fail the job, skip, or a dead-letter topic).
    public func kafkaSource<T: Sendable>(
        topics: [String], name: String, parallelism: Int? = nil,
        watermarks: WatermarkStrategy<T> = .noWatermarks,
        malformed: MalformedRecordPolicy = .fail, startingOffsets: KafkaStartingOffsets = .earliest,
        decode: @escaping @Sendable (KafkaRecord) throws -> T?
    ) -> DataStream<T> {
        var configuration = KafkaSourceConfiguration(
            bootstrapServers: settings.bootstrapServers, topics: topics, startingOffsets: startingOffsets,
            groupId: settings.groupId, malformedRecords: malformed, consumerSettings: settings.clientSettings,
            offsetOutOfRange: settings.onOffsetOutOfRange)
        configuration.worker = settings.worker
        return environment.fromSource(KafkaSource(configuration: configuration, deserializer: decode), name: name,
                                      parallelism: parallelism ?? settings.parallelism, watermarkStrategy: watermarks)
    }

    /// Writes `stream` to Kafka with the job's delivery guarantee: `topic` unless a record names
    /// its own (`KafkaSinkRecord.topic`). Exactly-once sinks use transactional ids
    /// `<prefix>[-<transactionalIdSuffix>]-<subtask>-<slot>`; a job with several needs a suffix per sink.
    /// `unwritable` decides what becomes of a record the sink cannot write (`serialize` throws, or it
    /// is above the producer's message.max.bytes): fail the job naming the input record, skip, or a
    /// dead-letter topic.
    public func kafkaSink<T: Sendable>(
        _ stream: DataStream<T>, topic: String, name: String, transactionalIdSuffix: String? = nil,
        unwritable: MalformedRecordPolicy = .fail, serialize: @escaping @Sendable (T) throws -> KafkaSinkRecord
    ) throws {
        let guarantee: DeliveryGuarantee
        switch settings.deliveryGuarantee {
        case .exactlyOnce:
            guard let base = settings.transactionalIdPrefix, !base.isEmpty else { throw JobBuildError.noTransactionalIdPrefix(sink: name) }
            let prefix = transactionalIdSuffix.map { "\(base)-\($0)" } ?? base
            guard transactionalIdPrefixes.insert(prefix).inserted else {
                throw JobBuildError.duplicateTransactionalIds(prefix: prefix, sink: name)
            }
            guarantee = .exactlyOnce(prefix: prefix)
        case .atLeastOnce: guarantee = .atLeastOnce
        case .none: guarantee = .none
        }
        // Each checkpoint that fails keeps a producer busy until one completes: enough producers to
        // ride out the tolerated failures in a row.
        let configuration = KafkaSinkConfiguration(
            bootstrapServers: settings.bootstrapServers, topic: topic, deliveryGuarantee: guarantee,
            producerPoolSize: max(4, settings.tolerableCheckpointFailures + 2),
            transactionTimeout: settings.transactionTimeout, holdBackWhileCommitPending: settings.holdBackWhileCommitPending,
            maxParallelism: settings.sinkMaxParallelism, producerSettings: settings.clientSettings,
            unwritableRecords: unwritable)
        var sinkConfiguration = configuration
        sinkConfiguration.retiredTransactionalIdPrefixes = settings.retiredTransactionalIdPrefixes.map { retired in
            transactionalIdSuffix.map { "\(retired)-\($0)" } ?? retired
        }
        sinkConfiguration.retiredParallelism = max(settings.parallelism, settings.sinkMaxParallelism ?? 1)
        let sink = KafkaSink(configuration: sinkConfiguration, serializer: serialize)
        // Refused here, before anything starts, rather than in every restart of a subtask.
        try sink.validate(checkpointInterval: settings.checkpointInterval)
        stream.sinkTo(sink, name: name)
    }
}

extension JobBuilder {
    /// The partition count of `topic`, asked of the cluster with the job's client settings: for a
    /// job that chooses its records' partitions itself.
    public func partitionCount(of topic: String) throws(JobBuildError) -> Int {
        var configuration = KafkaConfiguration(bootstrapServers: settings.bootstrapServers)
        for (key, value) in settings.clientSettings { configuration[key] = value }
        do {
            let admin = try KafkaAdmin(configuration: configuration)
            defer { admin.close() }
            return try admin.describeTopic(topic).partitions.count
        } catch {
            throw .topicNotDescribed(topic: topic, reason: "\(error)")
        }
    }
}

extension DataStream {
    /// `job.kafkaSink(self, ...)`, for the end of a chain of operators.
    public func sinkToKafka(
        _ job: JobBuilder, topic: String, name: String, transactionalIdSuffix: String? = nil,
        unwritable: MalformedRecordPolicy = .fail, serialize: @escaping @Sendable (T) throws -> KafkaSinkRecord
    ) throws {
        try job.kafkaSink(
            self, topic: topic, name: name, transactionalIdSuffix: transactionalIdSuffix, unwritable: unwritable, serialize: serialize)
    }
}
