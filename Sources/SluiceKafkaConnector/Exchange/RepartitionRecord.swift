import SluiceRuntime

/// The value of a record on a repartition topic: a record of the job, or a writer's event-time
/// status. One tag byte, then the fields in `BinaryWriter`'s encoding. Writers are numbered across
/// workers (worker × upstream parallelism + subtask), so a reader knows how many to wait for.
public enum RepartitionRecord: Equatable, Sendable {
    case record(payload: [UInt8], timestamp: Int64?)
    case watermark(Int64, writer: Int, writers: Int)
    case idle(writer: Int, writers: Int)

    private enum Tag: UInt8 {
        case record = 0, timedRecord = 1, watermark = 2, idle = 3
    }

    /// What a value holds, read without copying a record's payload.
    public enum Header: Equatable, Sendable {
        /// A record: the reader stands at its payload.
        case record(timestamp: Int64?)
        case watermark(Int64, writer: Int, writers: Int)
        case idle(writer: Int, writers: Int)
    }

    /// Writes a record's header; its payload is then encoded into `writer` right after it.
    public static func writeRecordHeader(timestamp: Int64?, into writer: inout BinaryWriter) {
        if let timestamp {
            writer.writeUInt8(Tag.timedRecord.rawValue)
            writer.writeInt64(timestamp)
        } else {
            writer.writeUInt8(Tag.record.rawValue)
        }
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 16)
        switch self {
        case .record(let payload, let timestamp):
            Self.writeRecordHeader(timestamp: timestamp, into: &writer)
            writer.writeRaw(payload)
        case .watermark(let watermark, let index, let count):
            writer.writeUInt8(Tag.watermark.rawValue)
            writer.writeInt64(watermark)
            writer.writeVarInt(index)
            writer.writeVarInt(count)
        case .idle(let index, let count):
            writer.writeUInt8(Tag.idle.rawValue)
            writer.writeVarInt(index)
            writer.writeVarInt(count)
        }
        return writer.bytes
    }

    /// Reads a value's header; for a record, `reader` is left at its payload.
    public static func readHeader(_ reader: inout BinaryReader) throws -> Header {
        let raw = try reader.readUInt8()
        switch Tag(rawValue: raw) {
        case .record:
            return .record(timestamp: nil)
        case .timedRecord:
            return .record(timestamp: try reader.readInt64())
        case .watermark:
            let watermark = try reader.readInt64()
            return .watermark(watermark, writer: try reader.readVarInt(), writers: try reader.readVarInt())
        case .idle:
            return .idle(writer: try reader.readVarInt(), writers: try reader.readVarInt())
        case nil:
            throw RepartitionError.malformedRecord("unknown tag \(raw)")
        }
    }

    /// Decodes a value; a record's payload is what follows its header.
    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        switch try Self.readHeader(&reader) {
        case .record(let timestamp): self = .record(payload: Array(try reader.readRaw(count: reader.remaining)), timestamp: timestamp)
        case .watermark(let watermark, let writer, let writers): self = .watermark(watermark, writer: writer, writers: writers)
        case .idle(let writer, let writers): self = .idle(writer: writer, writers: writers)
        }
    }
}

/// The event time a repartition reader may emit: per partition, the minimum over the writers it
/// expects of their last watermark (idle writers left out; a writer not heard from yet holds it
/// back), then the minimum over the reader's partitions that are not idle.
struct RepartitionWatermarks {
    private struct PartitionStatus {
        var writers = 0
        /// nil: idle.
        var watermarks: [Int: Int64?] = [:]

        /// nil: every writer idle.
        var watermark: Int64?? {
            guard writers > 0, watermarks.count >= writers else { return .some(.min) }
            let active = watermarks.values.compactMap { $0 }
            return active.isEmpty ? .none : .some(active.min())
        }
    }

    private var partitions: [Int32: PartitionStatus]

    init(partitions: [Int32]) {
        self.partitions = Dictionary(uniqueKeysWithValues: partitions.map { ($0, PartitionStatus()) })
    }

    /// A writer's status in `partition` (nil watermark: idle). A new writer count (the upstream
    /// was rescaled) forgets the writers of the old count.
    mutating func update(partition: Int32, writer: Int, writers: Int, watermark: Int64?) {
        var status = partitions[partition] ?? PartitionStatus()
        if status.writers != writers {
            status = PartitionStatus()
            status.writers = writers
        }
        if let watermark, let old = status.watermarks[writer] ?? nil, old > watermark {
            status.watermarks[writer] = old  // a writer's watermark never goes back
        } else {
            status.watermarks[writer] = .some(watermark)
        }
        partitions[partition] = status
    }

    /// The reader's event time: a watermark, or nil when every partition is idle.
    var current: Int64?? {
        var result: Int64?
        for status in partitions.values {
            guard let watermark = status.watermark else { continue }
            result = min(result ?? .max, watermark ?? .min)
        }
        return result.map { .some($0) } ?? .none
    }
}

/// Why a repartition topic cannot be used.
public enum RepartitionError: Error, CustomStringConvertible {
    case malformedRecord(String)
    case partitionCount(topic: String, found: Int, expected: Int)
    case notCodable(type: String, stream: String)
    case topicUnavailable(topic: String, reason: String)

    public var description: String {
        switch self {
        case .malformedRecord(let why):
            return "A repartition topic holds a record this job cannot read (\(why)): was the topic written by another job or version?"
        case .partitionCount(let topic, let found, let expected):
            return "The repartition topic \(topic) has \(found) partitions, but the job's max parallelism is \(expected) (one partition per key group): "
                + "delete the topic (after stopping every worker), or run with --max-parallelism \(found)."
        case .notCodable(let type, let stream):
            return "The stream '\(stream)' is keyed across workers, so its records (\(type)) must cross a repartition topic: make \(type) BinaryCodable."
        case .topicUnavailable(let topic, let reason):
            return "Cannot create or describe the repartition topic \(topic): \(reason). Is the broker reachable, and may this client create topics?"
        }
    }
}
