import NIOCore

/// A record header (key, nullable value).
package struct RecordHeader: Sendable, Hashable {
    package var key: String
    package var value: [UInt8]?
    package init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// One record of a v2 batch with its absolute offset and timestamp.
package struct Record: Sendable, Hashable {
    package var offset: Int64
    package var timestamp: Int64
    package var key: [UInt8]?
    package var value: [UInt8]?
    package var headers: [RecordHeader]

    package init(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// The type of a control record (key: version int16, type int16).
package enum ControlRecordType: Int16, Sendable, Hashable {
    case abort = 0
    case commit = 1
}

/// The int16 attributes of a record batch.
package struct RecordBatchAttributes: Sendable, Hashable {
    package var rawValue: Int16

    package init(rawValue: Int16) { self.rawValue = rawValue }

    package init(compression: CompressionCodec = .none, logAppendTime: Bool = false,
                isTransactional: Bool = false, isControl: Bool = false) {
        var raw = Int16(compression.rawValue)
        if logAppendTime { raw |= 1 << 3 }
        if isTransactional { raw |= 1 << 4 }
        if isControl { raw |= 1 << 5 }
        rawValue = raw
    }

    /// Bits 0-2; nil for a codec number this module does not know.
    package var compression: CompressionCodec? { CompressionCodec(rawValue: Int(rawValue & 0x7)) }
    package var compressionBits: Int { Int(rawValue & 0x7) }
    /// Bit 3: timestamps are the broker's log-append time (else the producer's create time).
    package var logAppendTime: Bool { rawValue & (1 << 3) != 0 }
    package var isTransactional: Bool { rawValue & (1 << 4) != 0 }
    package var isControl: Bool { rawValue & (1 << 5) != 0 }
}

/// A Kafka record batch, format v2 (magic 2), as the protocol guide defines it:
/// baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32 (CRC-32C over
/// attributes..end), attributes int16, lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64,
/// producerId int64, producerEpoch int16, baseSequence int32, records count int32, records.
package struct RecordBatch: Sendable, Hashable {
    /// Bytes before the records: the header described above.
    package static let headerSize = 61
    /// Bytes from `baseOffset` to the end of `batchLength`: the part not counted in `batchLength`.
    package static let logOverhead = 12

    package var baseOffset: Int64
    package var partitionLeaderEpoch: Int32
    package var attributes: RecordBatchAttributes
    package var lastOffsetDelta: Int32
    package var baseTimestamp: Int64
    package var maxTimestamp: Int64
    package var producerId: Int64
    package var producerEpoch: Int16
    package var baseSequence: Int32
    package var records: [Record]
    /// The CRC stored in the batch (for decoded batches; recomputed when encoding).
    package var crc: UInt32

    package init(baseOffset: Int64, partitionLeaderEpoch: Int32 = -1, attributes: RecordBatchAttributes,
                lastOffsetDelta: Int32? = nil, baseTimestamp: Int64? = nil, maxTimestamp: Int64? = nil,
                producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
                records: [Record], crc: UInt32 = 0) {
        self.baseOffset = baseOffset
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta ?? Int32(clamping: (records.map(\.offset).max() ?? baseOffset) - baseOffset)
        self.baseTimestamp = baseTimestamp ?? records.first?.timestamp ?? 0
        self.maxTimestamp = maxTimestamp ?? records.map(\.timestamp).max() ?? self.baseTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.records = records
        self.crc = crc
    }

    package var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    package var isTransactional: Bool { attributes.isTransactional }
    package var isControl: Bool { attributes.isControl }

    /// For a control batch: the marker type of its (single) control record; nil otherwise or if unknown.
    package var controlType: ControlRecordType? {
        guard isControl, let key = records.first?.key, key.count >= 4 else { return nil }
        return ControlRecordType(rawValue: Int16(bitPattern: UInt16(key[2]) << 8 | UInt16(key[3])))
    }

    /// A control batch holding one COMMIT or ABORT marker, as a transaction coordinator writes it.
    package static func controlBatch(baseOffset: Int64, producerId: Int64, producerEpoch: Int16, type: ControlRecordType,
                                    coordinatorEpoch: Int32 = 0, timestamp: Int64 = 0) -> RecordBatch {
        var key = WireWriter(capacity: 4)
        key.writeInt16(0)
        key.writeInt16(type.rawValue)
        var value = WireWriter(capacity: 6)
        value.writeInt16(0)
        value.writeInt32(coordinatorEpoch)
        return RecordBatch(
            baseOffset: baseOffset, attributes: RecordBatchAttributes(isTransactional: true, isControl: true),
            producerId: producerId, producerEpoch: producerEpoch,
            records: [Record(offset: baseOffset, timestamp: timestamp, key: key.bytes, value: value.bytes)])
    }
}

// MARK: Decoding

/// The batches found in a record set (e.g. one partition's records of a Fetch response).
package struct DecodedRecordSet: Sendable {
    package var batches: [RecordBatch]
    /// Bytes at the end that do not hold a whole batch: the broker cut the last batch at the fetch size limit.
    package var truncatedTailBytes: Int
}

extension RecordBatch {
    /// Decodes consecutive v2 batches. A partial batch at the end is skipped (reported in `truncatedTailBytes`),
    /// not an error; a bad CRC, a magic other than 2, or malformed records are errors.
    package static func decodeAll(_ records: ByteBuffer, verifyCRC: Bool = true) throws -> DecodedRecordSet {
        var budget = DecodeBudget()
        return try decodeAll(records, verifyCRC: verifyCRC, budget: &budget)
    }

    /// As `decodeAll(_:verifyCRC:)`, charging what the batches take to `budget` (shared by the
    /// record sets of one response).
    package static func decodeAll(_ records: ByteBuffer, verifyCRC: Bool = true, budget: inout DecodeBudget) throws -> DecodedRecordSet {
        var reader = WireReader(buffer: records)
        var batches: [RecordBatch] = []
        while reader.remaining > 0 {
            guard reader.remaining >= logOverhead,
                  let length = reader.buffer.getInteger(at: reader.buffer.readerIndex + 8, endianness: .big, as: Int32.self),
                  reader.remaining - logOverhead >= Int(length) else {
                return DecodedRecordSet(batches: batches, truncatedTailBytes: reader.remaining)
            }
            let slice = try reader.readSlice(logOverhead + Int(length), context: "record batch")
            batches.append(try decode(slice, verifyCRC: verifyCRC, budget: &budget))
        }
        return DecodedRecordSet(batches: batches, truncatedTailBytes: 0)
    }

    /// Decodes exactly one whole batch.
    package static func decode(_ bytes: ByteBuffer, verifyCRC: Bool = true) throws -> RecordBatch {
        var budget = DecodeBudget()
        return try decode(bytes, verifyCRC: verifyCRC, budget: &budget)
    }

    /// As `decode(_:verifyCRC:)`, charging the records' (decompressed) size to `budget`.
    package static func decode(_ bytes: ByteBuffer, verifyCRC: Bool = true, budget: inout DecodeBudget) throws -> RecordBatch {
        var reader = WireReader(buffer: bytes)
        let baseOffset = try reader.readInt64()
        let length = try reader.readInt32()
        guard length >= Int32(headerSize - logOverhead) else {
            throw KafkaWireError.malformed("record batch at offset \(baseOffset) with length \(length)")
        }
        guard reader.remaining >= Int(length) else {
            throw KafkaWireError.truncated(context: "record batch at offset \(baseOffset)", needed: Int(length),
                                           available: reader.remaining)
        }
        let partitionLeaderEpoch = try reader.readInt32()
        let magic = try reader.readInt8()
        guard magic == 2 else { throw KafkaWireError.unsupportedMagic(baseOffset: baseOffset, magic: magic) }
        let crc = try reader.readUInt32()
        // The CRC covers attributes to the end of the batch: length minus leader epoch, magic and crc.
        let covered = try reader.readSlice(Int(length) - 9, context: "record batch body")
        if verifyCRC {
            let computed = CRC32C.checksum(covered)
            guard computed == crc else {
                throw KafkaWireError.crcMismatch(baseOffset: baseOffset, stored: crc, computed: computed)
            }
        }
        var body = WireReader(buffer: covered)
        let attributes = RecordBatchAttributes(rawValue: try body.readInt16())
        let lastOffsetDelta = try body.readInt32()
        let baseTimestamp = try body.readInt64()
        let maxTimestamp = try body.readInt64()
        let producerId = try body.readInt64()
        let producerEpoch = try body.readInt16()
        let baseSequence = try body.readInt32()
        let count = try body.readInt32()
        // Every offset of the batch, and the one after it (where the next fetch starts), must exist.
        let lastOffset = try Checked.add(baseOffset, Int64(lastOffsetDelta), "the last offset of the batch at offset \(baseOffset)")
        guard lastOffsetDelta >= 0, lastOffset < Int64.max else {
            throw KafkaWireError.malformed("record batch at offset \(baseOffset) with last offset delta \(lastOffsetDelta)")
        }
        guard count >= 0 else { throw KafkaWireError.malformed("record batch at offset \(baseOffset) with \(count) records") }
        guard let codec = attributes.compression else {
            throw KafkaWireError.unsupportedCompression(codec: attributes.compressionBits)
        }
        var recordsReader: WireReader
        if codec == .none {
            try budget.charge(body.remaining, baseOffset: baseOffset)
            recordsReader = body
        } else {
            let compressed = try body.readRawBytes(body.remaining, context: "compressed records")
            let records = try Codec.decompress(compressed, codec: codec, limit: budget.remainingForBatch)
            try budget.charge(records.count, baseOffset: baseOffset)
            recordsReader = WireReader(bytes: records)
        }
        var records: [Record] = []
        records.reserveCapacity(Int(min(count, 1 << 16)))
        for _ in 0..<count {
            var record = try decodeRecord(&recordsReader, baseOffset: baseOffset, baseTimestamp: baseTimestamp)
            if attributes.logAppendTime { record.timestamp = maxTimestamp }
            records.append(record)
        }
        return RecordBatch(
            baseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch, attributes: attributes,
            lastOffsetDelta: lastOffsetDelta, baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp,
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence, records: records, crc: crc)
    }

    private static func decodeRecord(_ reader: inout WireReader, baseOffset: Int64, baseTimestamp: Int64) throws -> Record {
        let length = try reader.readVarint()
        var record = WireReader(buffer: try reader.readSlice(Int(length), context: "record"))
        _ = try record.readInt8()  // record attributes: unused by the protocol so far
        let timestampDelta = try record.readVarlong()
        let offsetDelta = try record.readVarint()
        let key = try readVarintBytes(&record)
        let value = try readVarintBytes(&record)
        let headerCount = try record.readVarint()
        guard headerCount >= 0, Int(headerCount) <= record.remaining else {
            throw KafkaWireError.malformed("record with \(headerCount) headers")
        }
        var headers: [RecordHeader] = []
        for _ in 0..<headerCount {
            guard let keyBytes = try readVarintBytes(&record),
                  let headerKey = String(validating: keyBytes, as: UTF8.self) else {
                throw KafkaWireError.malformed("a record header key that is null or not UTF-8")
            }
            headers.append(RecordHeader(key: headerKey, value: try readVarintBytes(&record)))
        }
        // Offsets stay below Int64.max so that "the next offset" always exists.
        let offset = try Checked.add(baseOffset, Int64(offsetDelta), "a record's offset in the batch at offset \(baseOffset)")
        guard offsetDelta >= 0, offset < Int64.max else {
            throw KafkaWireError.malformed("a record with offset delta \(offsetDelta) in the batch at offset \(baseOffset)")
        }
        let timestamp = try Checked.add(baseTimestamp, timestampDelta, "a record's timestamp in the batch at offset \(baseOffset)")
        return Record(offset: offset, timestamp: timestamp, key: key, value: value, headers: headers)
    }

    private static func readVarintBytes(_ reader: inout WireReader) throws -> [UInt8]? {
        let length = try reader.readVarint()
        if length < 0 { return nil }
        return try reader.readRawBytes(Int(length), context: "record field")
    }
}

// MARK: Encoding

extension RecordBatch {
    /// Encodes the batch in format v2 with a freshly computed CRC-32C, compressing the records with the
    /// codec named in `attributes`. Record offsets and timestamps are stored relative to the batch's base values.
    package func encoded() throws -> [UInt8] {
        guard let codec = attributes.compression else {
            throw KafkaWireError.unsupportedCompression(codec: attributes.compressionBits)
        }
        var recordBytes = WireWriter(capacity: 64 * max(records.count, 1))
        for record in records {
            var body = WireWriter(capacity: 64)
            body.writeInt8(0)
            body.writeVarlong(record.timestamp - baseTimestamp)
            body.writeVarint(Int32(clamping: record.offset - baseOffset))
            Self.writeVarintBytes(&body, record.key)
            Self.writeVarintBytes(&body, record.value)
            body.writeVarint(Int32(clamping: record.headers.count))
            for header in record.headers {
                Self.writeVarintBytes(&body, Array(header.key.utf8))
                Self.writeVarintBytes(&body, header.value)
            }
            recordBytes.writeVarint(Int32(clamping: body.count))
            recordBytes.writeRaw(body.buffer)
        }
        let payload = try Codec.compress(recordBytes.bytes, codec: codec)

        var writer = WireWriter(capacity: Self.headerSize + payload.count)
        writer.writeInt64(baseOffset)
        writer.writeInt32(0)  // batch length, set below
        writer.writeInt32(partitionLeaderEpoch)
        writer.writeInt8(2)
        writer.writeUInt32(0)  // crc, set below
        let crcStart = writer.count
        writer.writeInt16(attributes.rawValue)
        writer.writeInt32(lastOffsetDelta)
        writer.writeInt64(baseTimestamp)
        writer.writeInt64(maxTimestamp)
        writer.writeInt64(producerId)
        writer.writeInt16(producerEpoch)
        writer.writeInt32(baseSequence)
        writer.writeInt32(Int32(clamping: records.count))
        writer.writeRaw(payload)
        writer.setInt32(Int32(clamping: writer.count - Self.logOverhead), at: 8)
        let crc = CRC32C.checksum(writer.bytes[crcStart...])
        writer.setUInt32(crc, at: 17)
        return writer.bytes
    }

    private static func writeVarintBytes(_ writer: inout WireWriter, _ bytes: [UInt8]?) {
        guard let bytes else { writer.writeVarint(-1); return }
        writer.writeVarint(Int32(clamping: bytes.count))
        writer.writeRaw(bytes)
    }
}
