import CKafkaCompression

/// The compression codecs of record batch attributes (bits 0-2).
package enum CompressionCodec: Int, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    package var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }
}

/// Compresses and decompresses record sets through the C libraries (zlib, snappy, lz4 frame, zstd).
enum Codec {
    /// Inflates `input`, refusing to produce more than `limit` bytes (a batch that large is corrupt
    /// or hostile: `DecodeBudget` sets the limit).
    static func decompress(_ input: [UInt8], codec: CompressionCodec, limit: Int = DecodeBudget.defaultMaxBatchBytes) throws -> [UInt8] {
        switch codec {
        case .none: return input
        case .gzip: return try gunzip(input, limit: limit)
        case .snappy: return try unsnappy(input, limit: limit)
        case .lz4: return try unlz4(input, limit: limit)
        case .zstd: return try unzstd(input, limit: limit)
        }
    }

    static func tooLarge(_ codec: String, _ limit: Int) -> KafkaWireError {
        .decompressionFailed(codec: codec, reason: "the records inflate beyond the limit of \(limit) bytes")
    }

    static func compress(_ input: [UInt8], codec: CompressionCodec) throws -> [UInt8] {
        switch codec {
        case .none: return input
        case .gzip: return try gzip(input)
        case .snappy: return try snappy(input)
        case .lz4: return try lz4(input)
        case .zstd: return try zstd(input)
        }
    }

    // MARK: gzip (zlib)

    private static func gunzip(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: a 32 KiB window with automatic gzip/zlib header detection.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw KafkaWireError.decompressionFailed(codec: "gzip", reason: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(max(4096, input.count * 4), 1 << 20))
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBufferPointer { target -> (Int32, Int) in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    let code = inflate(&stream, Z_NO_FLUSH)
                    return (code, target.count - Int(stream.avail_out))
                }
                output.append(contentsOf: chunk[0..<produced])
                if code == Z_STREAM_END { return Z_STREAM_END }
                if code != Z_OK { return code }
                if produced == 0 && stream.avail_in == 0 { return Z_BUF_ERROR }
                if output.count > limit { return Z_MEM_ERROR }
            }
        }
        guard status == Z_STREAM_END else {
            if status == Z_MEM_ERROR { throw tooLarge("gzip", limit) }
            throw KafkaWireError.decompressionFailed(codec: "gzip", reason: "inflate returned \(status)")
        }
        guard output.count <= limit else { throw tooLarge("gzip", limit) }
        return output
    }

    private static func gzip(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: gzip framing, as Kafka producers write it.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                             zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw KafkaWireError.decompressionFailed(codec: "gzip", reason: "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var input = input
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        let (status, produced) = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target -> (Int32, Int) in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                let code = deflate(&stream, Z_FINISH)
                return (code, target.count - Int(stream.avail_out))
            }
        }
        guard status == Z_STREAM_END else {
            throw KafkaWireError.decompressionFailed(codec: "gzip", reason: "deflate returned \(status)")
        }
        return Array(output[0..<produced])
    }

    // MARK: snappy (raw, or Xerial framing as the Java client writes it)

    private static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]

    private static func unsnappy(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        guard input.count >= 16, Array(input[0..<8]) == xerialMagic else { return try unsnappyBlock(input[...], limit: limit) }
        // Xerial: magic, version int32, compatible version int32, then blocks of (int32 length, raw snappy).
        var reader = WireReader(bytes: Array(input[16...]))
        var output: [UInt8] = []
        while !reader.isAtEnd {
            let length = try reader.readInt32()
            let block = try reader.readRawBytes(Int(length), context: "xerial snappy block")
            // The blocks together, not each alone, must stay within the limit.
            output += try unsnappyBlock(block[...], limit: limit - output.count)
        }
        return output
    }

    private static func unsnappyBlock(_ input: ArraySlice<UInt8>, limit: Int) throws -> [UInt8] {
        try input.withUnsafeBufferPointer { source -> [UInt8] in
            let base = source.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            var length = 0
            guard snappy_uncompressed_length(base, source.count, &length) == SNAPPY_OK else {
                throw KafkaWireError.decompressionFailed(codec: "snappy", reason: "invalid uncompressed length")
            }
            guard length <= limit else { throw tooLarge("snappy", limit) }
            var output = [UInt8](repeating: 0, count: max(length, 1))
            let status = output.withUnsafeMutableBufferPointer { target in
                let to = target.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self) }
                return snappy_uncompress(base, source.count, to, &length)
            }
            guard status == SNAPPY_OK else {
                throw KafkaWireError.decompressionFailed(codec: "snappy", reason: "snappy_uncompress returned \(status)")
            }
            return Array(output[0..<length])
        }
    }

    private static func snappy(_ input: [UInt8]) throws -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let from = source.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                let to = target.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self) }
                return snappy_compress(from, source.count, to, &length)
            }
        }
        guard status == SNAPPY_OK else {
            throw KafkaWireError.decompressionFailed(codec: "snappy", reason: "snappy_compress returned \(status)")
        }
        return Array(output[0..<length])
    }

    // MARK: lz4 (frame format)

    private static func unlz4(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw KafkaWireError.decompressionFailed(codec: "lz4", reason: "cannot create a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var consumed = 0
        while true {
            var sourceSize = input.count - consumed
            var targetSize = chunk.count
            let hint = input.withUnsafeBufferPointer { source in
                chunk.withUnsafeMutableBufferPointer { target in
                    LZ4F_decompress(context, target.baseAddress, &targetSize,
                                    source.baseAddress.map { $0 + consumed }, &sourceSize, nil)
                }
            }
            if LZ4F_isError(hint) != 0 {
                let name = LZ4F_getErrorName(hint).map { String(cString: $0) } ?? "error"
                throw KafkaWireError.decompressionFailed(codec: "lz4", reason: name)
            }
            consumed += sourceSize
            output.append(contentsOf: chunk[0..<targetSize])
            if output.count > limit { throw tooLarge("lz4", limit) }
            if hint == 0 { return output }
            if sourceSize == 0 && targetSize == 0 {
                throw KafkaWireError.decompressionFailed(codec: "lz4", reason: "truncated frame")
            }
        }
    }

    private static func lz4(_ input: [UInt8]) throws -> [UInt8] {
        let bound = LZ4F_compressFrameBound(input.count, nil)
        var output = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                LZ4F_compressFrame(target.baseAddress, target.count, source.baseAddress, source.count, nil)
            }
        }
        guard LZ4F_isError(written) == 0 else {
            throw KafkaWireError.decompressionFailed(codec: "lz4", reason: "LZ4F_compressFrame failed")
        }
        return Array(output[0..<written])
    }

    // MARK: zstd

    private static func unzstd(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else {
            throw KafkaWireError.decompressionFailed(codec: "zstd", reason: "cannot create a stream")
        }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        try input.withUnsafeBufferPointer { source in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var outputFull = false
            // Keep going while input remains or the last call filled the chunk (more may be buffered inside zstd).
            while inBuffer.pos < inBuffer.size || outputFull {
                let (result, produced) = chunk.withUnsafeMutableBufferPointer { target -> (Int, Int) in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (result, outBuffer.pos)
                }
                if ZSTD_isError(result) != 0 {
                    let name = ZSTD_getErrorName(result).map { String(cString: $0) } ?? "error"
                    throw KafkaWireError.decompressionFailed(codec: "zstd", reason: name)
                }
                output.append(contentsOf: chunk[0..<produced])
                if output.count > limit { throw tooLarge("zstd", limit) }
                outputFull = produced == chunk.count
            }
        }
        return output
    }

    private static func zstd(_ input: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                ZSTD_compress(target.baseAddress, target.count, source.baseAddress, source.count, 3)
            }
        }
        guard ZSTD_isError(written) == 0 else {
            throw KafkaWireError.decompressionFailed(codec: "zstd", reason: "ZSTD_compress failed")
        }
        return Array(output[0..<written])
    }
}
