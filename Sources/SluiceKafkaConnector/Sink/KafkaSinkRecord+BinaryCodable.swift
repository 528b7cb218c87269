import SluiceKafka
import SluiceRuntime

/// A Kafka record on its way to the sink can cross a keyed exchange between worker processes (a
/// `keyBy` on a stream of sink records, as the pass-through job does), or wait in flight in an
/// unaligned checkpoint: both need its binary coding. The first byte is the format's version, so a
/// later field can be added without misreading records a running job already wrote.
extension KafkaSinkRecord: BinaryCodable {
    private static let formatVersion: UInt8 = 1

    public func encode(to writer: inout BinaryWriter) {
        writer.writeUInt8(Self.formatVersion)
        topic.encode(to: &writer)
        key.encode(to: &writer)
        value.encode(to: &writer)
        partition.encode(to: &writer)
        timestamp.encode(to: &writer)
        // Headers inline: `KafkaHeader` belongs to the client layer, which knows nothing of the
        // runtime's coding.
        writer.writeVarInt(headers.count)
        for header in headers {
            writer.writeString(header.key)
            header.value.encode(to: &writer)
        }
    }

    public init(from reader: inout BinaryReader) throws {
        let version = try reader.readUInt8()
        guard version == Self.formatVersion else {
            throw StateSerializationError.invalidData(
                "a Kafka sink record in format version \(version); this build reads version \(Self.formatVersion). Run the Sluice version that wrote it.")
        }
        let topic = try String?(from: &reader)
        let key = try [UInt8]?(from: &reader)
        let value = try [UInt8]?(from: &reader)
        let partition = try Int32?(from: &reader)
        let timestamp = try Int64?(from: &reader)
        let count = try reader.readVarInt()
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            headers.append(KafkaHeader(key: try reader.readString(), value: try [UInt8]?(from: &reader)))
        }
        self.init(topic: topic, key: key, value: value, headers: headers, partition: partition, timestamp: timestamp)
    }
}
