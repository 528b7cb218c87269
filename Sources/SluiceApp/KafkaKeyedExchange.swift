// Keyed exchanges between worker processes through Kafka (issue 15, point 2): where a job run as
// several workers keys a stream, each worker writes the stream's records to a repartition topic,
// one partition per key group, inside the same checkpoint transactions as its other output, and
// reads back the partitions of its own key groups as read_committed. Every hop is then exactly
// once by the sink's two-phase commit, and no worker waits for another's checkpoints.
import Foundation
import SluiceKafka
import SluiceKafkaConnector
import SluiceRuntime

/// The `KeyedExchange` SluiceApp installs when a job runs as several workers.
final class KafkaKeyedExchange: KeyedExchange, @unchecked Sendable {
    // @unchecked: a job is declared on one thread (JobRunner's, inside `declare`); the runtime
    // never calls the exchange after declaration, and the closures it builds capture only values.
    private weak var builder: JobBuilder?
    private let settings: JobSettings
    /// The repartition topics declared so far, in declaration order.
    private(set) var topics: [String] = []
    /// The names of the exchanges' reading sources: keyed edges from them stay inside a worker.
    private(set) var readerNames: Set<String> = []
    /// The first declaration problem (`exchange` cannot throw; JobRunner reports it).
    private(set) var failure: (any Error)?
    /// Creates the topic when absent and checks its partition count; tests replace it.
    var ensureTopic: (String, Int) throws -> Void

    init(builder: JobBuilder) {
        self.builder = builder
        self.settings = builder.settings
        let settings = builder.settings
        ensureTopic = { topic, partitions in try RepartitionTopics.ensure(topic, partitions: partitions, settings: settings) }
    }

    /// The key groups worker `index` of `workers` holds: Flink's range for operator index i of N.
    static func scope(of worker: KafkaWorkerShare, maxParallelism: Int) -> KeyGroupRange {
        KeyGroups.range(forSubtask: worker.index, parallelism: worker.workers, maxParallelism: maxParallelism)
    }

    /// `<job>-<operator>-repartition`, in the characters Kafka allows in topic names.
    static func topicName(job: String, operator name: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let clean = { (text: String) in String(text.map { allowed.contains($0) ? $0 : "-" }) }
        return "\(clean(job))-\(clean(name))-repartition"
    }

    /// A record's coding, with the type's `BinaryCodable` conformance opened once here rather than
    /// per record: a cast to the concrete type costs no existential box (a large record, such as a
    /// `KafkaSinkRecord`, would need one allocated for every record).
    private static func coding<C: BinaryCodable, T>(
        _: C.Type, of _: T.Type
    ) -> (encode: @Sendable (T, inout BinaryWriter) -> Void, decode: @Sendable (inout BinaryReader) throws -> T) {
        let encode: @Sendable (T, inout BinaryWriter) -> Void = { value, writer in (value as? C)?.encode(to: &writer) }
        let decode: @Sendable (inout BinaryReader) throws -> T = { reader in
            guard let value = try C(from: &reader) as? T else { throw RepartitionError.malformedRecord("a payload that is not a \(T.self)") }
            return value
        }
        return (encode, decode)
    }

    func exchange<K: StateKey, T: Sendable>(_ stream: DataStream<T>, key: @escaping @Sendable (T) -> K) -> DataStream<T>? {
        guard failure == nil, let builder else { return nil }
        guard let codable = T.self as? any BinaryCodable.Type else {
            failure = RepartitionError.notCodable(type: "\(T.self)", stream: stream.name)
            return nil
        }
        let (encode, decode) = Self.coding(codable, of: T.self)
        let maxParallelism = settings.maxParallelism
        var topic = Self.topicName(job: settings.repartitionTopicPrefix ?? settings.jobName, operator: stream.name)
        if topics.contains(topic) { topic = topic.replacingOccurrences(of: "-repartition", with: "-\(topics.count)-repartition") }
        let ordinal = topics.count
        topics.append(topic)
        do {
            try ensureTopic(topic, maxParallelism)
            let worker = settings.worker
            let carried = stream.carryingEventTime(name: "\(stream.name) event time")
            let records = carried.flatMap(name: "\(stream.name) to \(topic)") { (element: ExchangeElement<T>, out: Collector<KafkaSinkRecord>) in
                switch element {
                case .record(let value, let timestamp):
                    var writer = BinaryWriter(capacity: 64)
                    RepartitionRecord.writeRecordHeader(timestamp: timestamp, into: &writer)
                    encode(value, &writer)
                    let keyGroup = KeyGroups.keyGroup(for: key(value), maxParallelism: maxParallelism)
                    try out.collect(KafkaSinkRecord(value: writer.bytes, partition: Int32(keyGroup), timestamp: timestamp))
                case .watermark(let watermark, let subtask, let subtasks):
                    let value = RepartitionRecord.watermark(
                        watermark, writer: worker.index * subtasks + subtask, writers: worker.workers * subtasks).encoded()
                    for partition in 0..<maxParallelism { try out.collect(KafkaSinkRecord(value: value, partition: Int32(partition))) }
                case .idle(let subtask, let subtasks):
                    let value = RepartitionRecord.idle(writer: worker.index * subtasks + subtask, writers: worker.workers * subtasks).encoded()
                    for partition in 0..<maxParallelism { try out.collect(KafkaSinkRecord(value: value, partition: Int32(partition))) }
                }
            }
            try builder.kafkaSink(records, topic: topic, name: "\(topic) sink", transactionalIdSuffix: "exchange-\(ordinal)") { $0 }
            let configuration = RepartitionSourceConfiguration(
                bootstrapServers: settings.bootstrapServers, topic: topic, maxParallelism: maxParallelism,
                scope: Self.scope(of: worker, maxParallelism: maxParallelism), clientSettings: settings.clientSettings)
            let source = RepartitionSource<T>(configuration: configuration, decode: decode)
            let read = builder.environment.fromSource(source, name: "\(topic) reader", parallelism: settings.parallelism)
            readerNames.insert(read.name)
            return read
        } catch {
            failure = error
            return nil
        }
    }
}

/// Creates repartition topics, once per topic and process.
enum RepartitionTopics {
    static func ensure(_ topic: String, partitions: Int, settings: JobSettings) throws {
        var configuration = KafkaConfiguration(bootstrapServers: settings.bootstrapServers)
        for (key, value) in settings.clientSettings { configuration[key] = value }
        let admin: KafkaAdmin
        do {
            admin = try KafkaAdmin(configuration: configuration)
        } catch {
            throw RepartitionError.topicUnavailable(topic: topic, reason: "\(error)")
        }
        defer { admin.close() }
        // Workers start together and race to create it: whoever loses finds it made.
        var lastError = "not found"
        for attempt in 1...4 {
            if let found = try? admin.describeTopic(topic) {
                guard found.partitions.count == partitions else {
                    throw RepartitionError.partitionCount(topic: topic, found: found.partitions.count, expected: partitions)
                }
                return
            }
            guard attempt < 4 else { break }
            do {
                try admin.createTopic(topic, partitions: Int32(partitions))
            } catch {
                lastError = "\(error)"
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        throw RepartitionError.topicUnavailable(topic: topic, reason: lastError)
    }
}
