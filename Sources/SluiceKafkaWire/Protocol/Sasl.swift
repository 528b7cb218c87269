/// SaslHandshake (key 17) v1: picks the mechanism; the exchange then runs in SaslAuthenticate requests.
/// (v0 would send raw SASL tokens outside Kafka's framing; brokers since Kafka 1.0 speak v1.)
public struct SaslHandshakeRequest: KafkaRequest {
    public static let apiKey: Int16 = 17
    public static let apiName = "SaslHandshake"
    public static let supportedVersions: ClosedRange<Int16> = 1...1
    public let version: Int16
    public var mechanism: String

    public init(version: Int16 = 1, mechanism: String) {
        self.version = version
        self.mechanism = mechanism
    }

    public func encodeBody(into writer: inout WireWriter) { writer.writeString(mechanism) }

    public func decodeResponse(from reader: inout WireReader) throws -> SaslHandshakeResponse {
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        let mechanisms = try reader.readArray { try $0.readString() }
        return SaslHandshakeResponse(errorCode: errorCode, mechanisms: mechanisms)
    }
}

public struct SaslHandshakeResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    /// The mechanisms the broker offers.
    public var mechanisms: [String]
}

/// SaslAuthenticate (key 36) v0-v1: one round of the mechanism's exchange.
public struct SaslAuthenticateRequest: KafkaRequest {
    public static let apiKey: Int16 = 36
    public static let apiName = "SaslAuthenticate"
    public static let supportedVersions: ClosedRange<Int16> = 0...1
    public let version: Int16
    public var authBytes: [UInt8]

    public init(version: Int16 = 1, authBytes: [UInt8]) {
        self.version = version
        self.authBytes = authBytes
    }

    public func encodeBody(into writer: inout WireWriter) { writer.writeBytes(authBytes) }

    public func decodeResponse(from reader: inout WireReader) throws -> SaslAuthenticateResponse {
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        let message = try reader.readNullableString()
        let bytes = try reader.readBytes()
        let lifetime = version >= 1 ? try reader.readInt64() : 0
        return SaslAuthenticateResponse(errorCode: errorCode, errorMessage: message, authBytes: bytes,
                                        sessionLifetimeMs: lifetime)
    }
}

public struct SaslAuthenticateResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var authBytes: [UInt8]
    /// 0: the session does not expire (Sluice's connections are short-lived and do not re-authenticate).
    public var sessionLifetimeMs: Int64
}
