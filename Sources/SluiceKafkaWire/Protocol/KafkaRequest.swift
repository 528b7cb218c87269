import NIOCore

/// One Kafka API request at a chosen version, with the decoder of its response body.
/// The connection adds the request header (v1, or v2 for flexible versions) and strips the response header.
package protocol KafkaRequest: Sendable {
    associatedtype Response: Sendable

    static var apiKey: Int16 { get }
    static var apiName: String { get }
    /// The versions this module can encode and decode.
    static var supportedVersions: ClosedRange<Int16> { get }
    /// The first flexible version (compact types and tagged fields), or nil if none we speak is flexible.
    static var firstFlexibleVersion: Int16? { get }

    /// The version this request is encoded at.
    var version: Int16 { get }

    /// Writes the request body (after the header).
    func encodeBody(into writer: inout WireWriter)

    /// Reads the response body (after the response header).
    func decodeResponse(from reader: inout WireReader) throws -> Response
}

extension KafkaRequest {
    public static var firstFlexibleVersion: Int16? { nil }

    public var isFlexible: Bool {
        guard let first = Self.firstFlexibleVersion else { return false }
        return version >= first
    }

    /// Response header v1 (with tagged fields) for flexible versions, except ApiVersions which always answers v0.
    public var responseHeaderHasTags: Bool { isFlexible && Self.apiKey != ApiVersionsRequest.apiKey }

    /// The complete frame: int32 size, request header, body.
    public func encodeFrame(correlationId: Int32, clientId: String?) -> WireWriter {
        var writer = WireWriter(capacity: 128)
        writer.writeInt32(0)  // size, set below
        writer.writeInt16(Self.apiKey)
        writer.writeInt16(version)
        writer.writeInt32(correlationId)
        writer.writeNullableString(clientId)  // client_id stays a classic nullable string even in header v2
        if isFlexible { writer.writeTaggedFields() }
        encodeBody(into: &writer)
        writer.setInt32(Int32(clamping: writer.count - 4), at: 0)
        return writer
    }

    /// Decodes a response frame body after the correlation id: the optional header tags, then the body.
    public func decodeResponseAfterCorrelationId(_ buffer: ByteBuffer) throws -> Response {
        var reader = WireReader(buffer: buffer)
        if responseHeaderHasTags { try reader.readTaggedFields() }
        return try decodeResponse(from: &reader)
    }

    /// Picks the highest version both sides speak.
    public static func negotiateVersion(broker: ClosedRange<Int16>?) throws -> Int16 {
        guard let broker, broker.overlaps(supportedVersions) else {
            throw KafkaWireError.unsupportedVersion(api: apiName, ours: supportedVersions, broker: broker)
        }
        return min(broker.upperBound, supportedVersions.upperBound)
    }
}
