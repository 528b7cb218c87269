import SluiceKafka
import SluiceRuntime

/// A partition-aware Kafka source (see the module's documentation).
public struct KafkaSource<Output: Sendable>: Source {
    public typealias Deserializer = @Sendable (KafkaRecord) throws -> Output?
    /// The partition ids of a topic; nil: ask the cluster's metadata.
    typealias PartitionLister = @Sendable (String) throws -> [Int32]
    public let configuration: KafkaSourceConfiguration
    let deserializer: Deserializer
    /// Tests replace the metadata lookup to exercise partition discovery on brokers that cannot add
    /// partitions to a topic (the embedded one).
    var partitionLister: PartitionLister?

    /// - Parameter deserializer: turns a record into the source's output; nil drops the record,
    ///   a thrown error is handled by `configuration.malformedRecords`.
    public init(configuration: KafkaSourceConfiguration, deserializer: @escaping Deserializer) {
        self.configuration = configuration
        self.deserializer = deserializer
    }

    public func createReader(subtaskIndex: Int) throws -> KafkaSourceReader<Output> {
        KafkaSourceReader(configuration: configuration, deserializer: deserializer, partitionLister: partitionLister)
    }
}
