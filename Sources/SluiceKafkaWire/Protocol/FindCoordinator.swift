/// FindCoordinator (key 10) v0-v3: the broker coordinating a consumer group (key type 0) or a
/// transactional id (key type 1).
package struct FindCoordinatorRequest: KafkaRequest {
    public static let apiKey: Int16 = 10
    public static let apiName = "FindCoordinator"
    public static let supportedVersions: ClosedRange<Int16> = 0...3
    public static let firstFlexibleVersion: Int16? = 3

    public enum KeyType: Int8, Sendable {
        case group = 0
        case transaction = 1
    }

    public let version: Int16
    public var key: String
    public var keyType: KeyType

    public init(version: Int16 = 1, key: String, keyType: KeyType) {
        self.version = version
        self.key = key
        self.keyType = keyType
    }

    public func encodeBody(into writer: inout WireWriter) {
        if isFlexible { writer.writeCompactString(key) } else { writer.writeString(key) }
        if version >= 1 { writer.writeInt8(keyType.rawValue) }
        if isFlexible { writer.writeTaggedFields() }
    }

    public func decodeResponse(from reader: inout WireReader) throws -> FindCoordinatorResponse {
        let throttle = version >= 1 ? try reader.readInt32() : 0
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        var message: String?
        if version >= 1 { message = isFlexible ? try reader.readCompactNullableString() : try reader.readNullableString() }
        let nodeId = try reader.readInt32()
        let host = isFlexible ? try reader.readCompactString() : try reader.readString()
        let port = try reader.readInt32()
        if isFlexible { try reader.readTaggedFields() }
        return FindCoordinatorResponse(throttleTimeMs: throttle, errorCode: errorCode, errorMessage: message,
                                       nodeId: nodeId, host: host, port: port)
    }
}

package struct FindCoordinatorResponse: Sendable, Hashable {
    public var throttleTimeMs: Int32
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var nodeId: Int32
    public var host: String
    public var port: Int32
}
