import Foundation
import Logging
import NIOCore
import SluiceKafka
import SluiceKafkaWire
import SluiceRuntime

/// Where and what a repartition source reads.
public struct RepartitionSourceConfiguration: Sendable {
    public var bootstrapServers: String
    public var topic: String
    /// The job's max parallelism: the topic's partition count, one partition per key group.
    public var maxParallelism: Int
    /// The key groups (partitions) this worker reads; its subtasks split them as the keyed
    /// operators after them split their key groups.
    public var scope: KeyGroupRange
    /// librdkafka properties of the job's clients; TLS and SASL are taken from them.
    public var clientSettings: [String: String]
    /// How long a fetch may wait at the broker when there is nothing new.
    public var fetchWait: Duration = .milliseconds(20)

    public init(bootstrapServers: String, topic: String, maxParallelism: Int, scope: KeyGroupRange, clientSettings: [String: String]) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.maxParallelism = maxParallelism
        self.scope = scope
        self.clientSettings = clientSettings
    }
}

/// The downstream side of a keyed exchange between workers: reads the repartition partitions of
/// this worker's key groups as read_committed, honouring the transaction markers itself (the
/// wire layer's fetch, not librdkafka: some brokers show aborted records to read_committed
/// consumers), with its positions in operator state, and emits the event time its writers'
/// watermark records allow.
public struct RepartitionSource<Output: Sendable>: Source {
    public let configuration: RepartitionSourceConfiguration
    let decode: @Sendable (inout BinaryReader) throws -> Output

    /// `decode` reads a record's payload from a reader standing at it (no copy of the payload).
    public init(configuration: RepartitionSourceConfiguration, decode: @escaping @Sendable (inout BinaryReader) throws -> Output) {
        self.configuration = configuration
        self.decode = decode
    }

    public func createReader(subtaskIndex: Int) throws -> RepartitionSourceReader<Output> {
        RepartitionSourceReader(configuration: configuration, decode: decode)
    }
}

/// One subtask's reader of a repartition topic. Used on its subtask's thread only.
public final class RepartitionSourceReader<Output: Sendable>: SourceReader {
    let configuration: RepartitionSourceConfiguration
    let decode: @Sendable (inout BinaryReader) throws -> Output
    private var client: KafkaWireClient?
    private var cursors: [Int32: CommittedPartitionCursor] = [:]
    private var partitionBytes: [Int32: Int32] = [:]
    private var leaders: [Int32: BrokerAddress] = [:]
    private var watermarks = RepartitionWatermarks(partitions: [])
    private var logger = Logger(label: "sluice.kafka.repartition-source")

    init(configuration: RepartitionSourceConfiguration, decode: @escaping @Sendable (inout BinaryReader) throws -> Output) {
        self.configuration = configuration
        self.decode = decode
    }

    public func open(_ context: SourceReaderContext) throws {
        logger = context.logger
        let range = KeyGroups.range(
            forSubtask: context.subtaskIndex, parallelism: context.parallelism, maxParallelism: configuration.maxParallelism,
            scope: configuration.scope)
        let owned = range.keyGroups.map { $0.map { Int32($0) } } ?? []
        let restored = try Self.decodePositions(context.restoredState, topic: configuration.topic)
        for partition in owned { cursors[partition] = CommittedPartitionCursor(position: restored[partition] ?? 0) }
        watermarks = RepartitionWatermarks(partitions: owned)
        let security = try KafkaWireSecurity(properties: configuration.clientSettings)
        var options = KafkaConnectionOptions(security: security)
        options.clientId = "sluice-repartition-\(context.subtaskIndex)"
        client = try KafkaWireClient(bootstrap: configuration.bootstrapServers, options: options)
        let restoredFrom = context.restoredCheckpointId.map { ", restored from checkpoint \($0)" } ?? ""
        logger.info("Repartition source subtask \(context.subtaskIndex) reads \(configuration.topic) partitions \(range)\(restoredFrom)")
    }

    public func pollNext(_ output: SourceOutput<Output>) throws -> SourceStatus {
        guard let client, !cursors.isEmpty else {
            try output.markReaderIdle(true)
            Thread.sleep(forTimeInterval: 0.01)
            return .nothingAvailable
        }
        var byLeader: [BrokerAddress: [Int32]] = [:]
        for partition in cursors.keys.sorted() {
            let leader: BrokerAddress
            if let known = leaders[partition] {
                leader = known
            } else {
                leader = try client.leader(of: TopicPartition(configuration.topic, partition))
                leaders[partition] = leader
            }
            byLeader[leader, default: []].append(partition)
        }
        var fetched = false
        for (leader, partitions) in byLeader {
            fetched = try fetch(partitions, from: leader, client: client, output: output) || fetched
        }
        try emitEventTime(output)
        return fetched ? .moreAvailable : .nothingAvailable
    }

    /// Emits the event time the writers' statuses allow now. Called after each status record, so a
    /// writer's last watermark takes effect before its idleness does, as in one process.
    private func emitEventTime(_ output: SourceOutput<Output>) throws {
        switch watermarks.current {
        case .none: try output.markReaderIdle(true)
        case .some(let watermark):
            if let watermark, watermark > Int64.min { try output.emitReaderWatermark(watermark) } else { try output.markReaderIdle(false) }
        }
    }

    /// One Fetch of `partitions` from their leader; true when it brought batches.
    private func fetch(_ partitions: [Int32], from leader: BrokerAddress, client: KafkaWireClient, output: SourceOutput<Output>) throws -> Bool {
        let response = try client.fetchUncommitted(
            configuration.topic,
            partitions.map { FetchRequest.Partition(partition: $0, fetchOffset: cursors[$0]?.fetchOffset ?? 0, maxBytes: partitionBytes[$0] ?? 1024 * 1024) },
            from: leader, maxWait: configuration.fetchWait, maxBytes: 32 * 1024 * 1024)
        var fetched = false
        for partition in partitions {
            guard let entry = response.partition(configuration.topic, partition) else { continue }
            guard entry.errorCode == .none else {
                if entry.errorCode.isRetriable {
                    leaders[partition] = nil
                    continue
                }
                throw KafkaWireError.broker(api: FetchRequest.apiName, code: entry.errorCode,
                                            context: "\(configuration.topic)-\(partition) at offset \(cursors[partition]?.fetchOffset ?? 0)")
            }
            guard let records = entry.records, var cursor = cursors[partition] else { continue }
            let decoded = try RecordBatch.decodeAll(records, verifyCRC: true)
            if decoded.batches.isEmpty {
                if decoded.truncatedTailBytes > 0 { partitionBytes[partition] = min((partitionBytes[partition] ?? 1024 * 1024) * 2, 32 * 1024 * 1024) }
                continue
            }
            fetched = true
            var batches = decoded.batches
            if let first = batches.first(where: { $0.lastOffset >= cursor.fetchOffset }), first.baseOffset > cursor.fetchOffset {
                guard let refetched = try refetch(partition, covering: cursor.fetchOffset, from: leader, client: client) else { continue }
                batches = refetched
            }
            cursor.add(Self.contiguous(batches, from: cursor.fetchOffset))
            let split = "\(configuration.topic)-\(partition)"
            try cursor.release { record in
                guard let value = record.value else { throw RepartitionError.malformedRecord("a record without a value at offset \(record.offset)") }
                var reader = BinaryReader(value)
                switch try RepartitionRecord.readHeader(&reader) {
                case .record(let timestamp):
                    try output.collect(try decode(&reader), timestamp: timestamp, split: split)
                case .watermark(let watermark, let writer, let writers):
                    watermarks.update(partition: partition, writer: writer, writers: writers, watermark: watermark)
                    try emitEventTime(output)
                case .idle(let writer, let writers):
                    watermarks.update(partition: partition, writer: writer, writers: writers, watermark: nil)
                    try emitEventTime(output)
                }
            }
            cursors[partition] = cursor
        }
        return fetched
    }

    /// The batches from one holding `offset` on, when a fetch at `offset` began after it. The
    /// embedded broker (Tansu 0.6.0) sometimes answers a fetch at a batch's first offset with the
    /// batches after it, while a fetch one offset lower returns that batch (measured after restores,
    /// with several producers writing to the partition); skipping it would lose committed records.
    /// Fetches from further back until a batch holds `offset`. A fetch from below that returns
    /// batches on both sides of `offset` and none holding it proves a gap in the log: reading goes
    /// on after it. nil: undecided (nothing came back); the next poll asks again.
    private func refetch(_ partition: Int32, covering offset: Int64, from leader: BrokerAddress, client: KafkaWireClient) throws -> [RecordBatch]? {
        for back: Int64 in [1, 16, 256, offset] where back > 0 {
            let start = max(0, offset - back)
            let response = try client.fetchUncommitted(
                configuration.topic, [FetchRequest.Partition(partition: partition, fetchOffset: start, maxBytes: 8 * 1024 * 1024)],
                from: leader, maxWait: .milliseconds(100), maxBytes: 32 * 1024 * 1024)
            let batches = try response.partition(configuration.topic, partition)?.records
                .map { try RecordBatch.decodeAll($0, verifyCRC: true).batches } ?? []
            if batches.contains(where: { $0.baseOffset <= offset && $0.lastOffset >= offset }) {
                logger.debug("A fetch at \(configuration.topic)-\(partition) offset \(offset) skipped its batch; fetched it from \(start).")
                return batches
            }
            if batches.contains(where: { $0.lastOffset < offset }) && batches.contains(where: { $0.baseOffset > offset }) {
                logger.warning("The log of \(configuration.topic)-\(partition) has no batch holding offset \(offset); reading on after it.")
                return batches
            }
            if start == 0 { break }
        }
        return nil
    }

    /// The batches from `offset` on up to the first gap between them. A log of a repartition topic
    /// has no gaps (it is never compacted), so a gap in an answer is a batch the broker left out:
    /// what follows it waits for the next fetch, which starts at the gap (and asks again from
    /// further back when the broker skips it once more).
    static func contiguous(_ batches: [RecordBatch], from offset: Int64) -> [RecordBatch] {
        var next = offset
        var kept: [RecordBatch] = []
        for batch in batches where batch.lastOffset >= next {
            if batch.baseOffset > next && !kept.isEmpty { break }
            kept.append(batch)
            next = batch.lastOffset + 1
        }
        return kept
    }

    public func snapshotState(checkpointId: Int64) throws -> [Data] {
        cursors.keys.sorted().compactMap { partition in
            guard let position = cursors[partition]?.position else { return nil }
            var writer = BinaryWriter(capacity: 32)
            writer.writeString(configuration.topic)
            writer.writeVarInt(Int(partition))
            writer.writeInt64(position)
            return Data(writer.bytes)
        }
    }

    public func close() throws {
        client?.close()
        client = nil
    }

    /// The positions in restored entries (every old subtask's, of every worker after a rescale).
    static func decodePositions(_ entries: [Data], topic: String) throws -> [Int32: Int64] {
        var positions: [Int32: Int64] = [:]
        for entry in entries {
            var reader = BinaryReader([UInt8](entry))
            let entryTopic = try reader.readString()
            let partition = Int32(try reader.readVarInt())
            let position = try reader.readInt64()
            guard entryTopic == topic else { continue }
            positions[partition] = max(positions[partition] ?? 0, position)
        }
        return positions
    }
}
