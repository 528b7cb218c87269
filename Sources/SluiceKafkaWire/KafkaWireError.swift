/// Every failure of SluiceKafkaWire: one typed family whose messages say what to do next.
public enum KafkaWireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A reader needed more bytes than the buffer holds (a malformed or truncated frame).
    case truncated(context: String, needed: Int, available: Int)
    /// Bytes that do not follow the protocol (bad length, bad varint, invalid UTF-8, ...).
    case malformed(String)
    /// A record batch whose CRC-32C does not match its contents.
    case crcMismatch(baseOffset: Int64, stored: UInt32, computed: UInt32)
    /// A record batch whose magic byte is not 2 (only the v2 format is supported).
    case unsupportedMagic(baseOffset: Int64, magic: Int8)
    /// A compression codec this build cannot decode or encode.
    case unsupportedCompression(codec: Int)
    /// The codec's library rejected the data.
    case decompressionFailed(codec: String, reason: String)
    /// Nothing accepted the TCP connection.
    case connectionRefused(host: String, port: Int, reason: String)
    /// The TCP connection did not complete within the connect timeout.
    case connectTimeout(host: String, port: Int, milliseconds: Int64)
    /// No answer to a request within the request timeout (the connection is then closed).
    case requestTimeout(api: String, host: String, port: Int, milliseconds: Int64)
    /// The broker closed the connection, or it broke, while a request was outstanding or about to be sent.
    case connectionClosed(host: String, port: Int, during: String)
    /// The broker does not support any version of an API that this module speaks.
    case unsupportedVersion(api: String, ours: ClosedRange<Int16>, broker: ClosedRange<Int16>?)
    /// The broker answered with an error code.
    case broker(api: String, code: KafkaErrorCode, context: String)
    /// A topic or partition the broker does not know (or that has no leader right now).
    case unknownTopicOrPartition(topic: String, partition: Int32?)
    /// The transaction coordinator could not be found after bounded retries.
    case coordinatorNotFound(transactionalId: String, attempts: Int, lastError: String)
    /// Fetching made no progress although the partition holds more data.
    case fetchStalled(topic: String, partition: Int32, offset: Int64, highWatermark: Int64)
    /// A bootstrap address that cannot be parsed.
    case invalidBootstrap(String)
    /// TLS or SASL could not be set up: refused settings, a failed handshake or authentication.
    case security(KafkaWireSecurityError)

    public var description: String {
        switch self {
        case .truncated(let context, let needed, let available):
            return "Truncated Kafka data while reading \(context): needed \(needed) bytes, \(available) left. "
                + "The broker sent a malformed frame or this module mis-parsed a version; report it with the api version."
        case .malformed(let what):
            return "Malformed Kafka data: \(what). Check that broker and client agree on the api version."
        case .crcMismatch(let baseOffset, let stored, let computed):
            return "Record batch at offset \(baseOffset) fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed))): "
                + "the data is corrupt in the log or in transit; re-read it, and inspect the broker's log segment if it persists."
        case .unsupportedMagic(let baseOffset, let magic):
            return "Record batch at offset \(baseOffset) has magic \(magic); only the v2 record format (magic 2) is supported. "
                + "Upgrade the topic's message format (Kafka >= 0.11)."
        case .unsupportedCompression(let codec):
            return "Compression codec \(codec) is not supported (known: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)."
        case .decompressionFailed(let codec, let reason):
            return "Decompressing a \(codec) record batch failed: \(reason). The batch is corrupt or uses an unsupported framing."
        case .connectionRefused(let host, let port, let reason):
            return "The broker at \(host):\(port) refused the connection (\(reason)); is it running, and is the address right?"
        case .connectTimeout(let host, let port, let ms):
            return "Connecting to the broker at \(host):\(port) timed out after \(ms) ms; check the address, the network, "
                + "or raise the connect timeout."
        case .requestTimeout(let api, let host, let port, let ms):
            return "The broker at \(host):\(port) did not answer \(api) within \(ms) ms; the connection was closed. "
                + "Retry, or raise the request timeout if the broker is overloaded."
        case .connectionClosed(let host, let port, let during):
            return "The broker at \(host):\(port) closed the connection during \(during). A broker closes it on a request it "
                + "rejects (some do so for EndTxn with a wrong producer id or epoch) or when it stops; reconnect and retry if that is safe."
        case .unsupportedVersion(let api, let ours, let broker):
            let theirs = broker.map { "\($0.lowerBound)...\($0.upperBound)" } ?? "none"
            return "The broker supports \(api) versions \(theirs); this module speaks \(ours.lowerBound)...\(ours.upperBound). "
                + "Use a broker that supports an overlapping version."
        case .broker(let api, let code, let context):
            return "The broker answered \(api) with \(code)\(context.isEmpty ? "" : " (\(context))")."
                + (code.isRetriable ? " This is retriable: try again shortly." : "")
        case .unknownTopicOrPartition(let topic, let partition):
            let name = partition.map { "\(topic)-\($0)" } ?? topic
            return "The broker does not know \(name) or it has no leader; create the topic first or check its name."
        case .coordinatorNotFound(let transactionalId, let attempts, let lastError):
            return "No transaction coordinator for '\(transactionalId)' after \(attempts) attempts (last: \(lastError)); "
                + "check that the broker supports transactions and is healthy, then retry."
        case .fetchStalled(let topic, let partition, let offset, let highWatermark):
            return "Fetching \(topic)-\(partition) made no progress at offset \(offset) (high watermark \(highWatermark)); "
                + "raise the fetch's maximum bytes or check the broker."
        case .invalidBootstrap(let text):
            return "Cannot parse the bootstrap address '\(text)'; use host:port[,host:port...]."
        case .security(let error):
            return error.description
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
