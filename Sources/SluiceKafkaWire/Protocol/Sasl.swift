/// SaslHandshake (key 17) v1: picks the mechanism; the exchange then runs in SaslAuthenticate requests.
/// (v0 would send raw SASL tokens outside Kafka's framing; brokers since Kafka 1.0 speak v1.)
package struct SaslHandshakeRequest: KafkaRequest {
    package static let apiKey: Int16 = 17
    package static let apiName = "SaslHandshake"
    package static let supportedVersions: ClosedRange<Int16> = 1...1
    package let version: Int16
    package var mechanism: String

    package init(version: Int16 = 1, mechanism: String) {
        self.version = version
        self.mechanism = mechanism
    }

    public func encodeBody(into writer: inout WireWriter) { writer.writeString(mechanism) }

    package func decodeResponse(from reader: inout WireReader) throws -> SaslHandshakeResponse {
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        let mechanisms = try reader.readArray { try $0.readString() }
        return SaslHandshakeResponse(errorCode: errorCode, mechanisms: mechanisms)
    }
}

package struct SaslHandshakeResponse: Sendable, Equatable {
    package var errorCode: KafkaErrorCode
    /// The mechanisms the broker offers.
    package var mechanisms: [String]
}

/// SaslAuthenticate (key 36) v0-v1: one round of the mechanism's exchange.
package struct SaslAuthenticateRequest: KafkaRequest {
    package static let apiKey: Int16 = 36
    package static let apiName = "SaslAuthenticate"
    package static let supportedVersions: ClosedRange<Int16> = 0...1
    package let version: Int16
    package var authBytes: [UInt8]

    package init(version: Int16 = 1, authBytes: [UInt8]) {
        self.version = version
        self.authBytes = authBytes
    }

    public func encodeBody(into writer: inout WireWriter) { writer.writeBytes(authBytes) }

    package func decodeResponse(from reader: inout WireReader) throws -> SaslAuthenticateResponse {
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        let message = try reader.readNullableString()
        let bytes = try reader.readBytes()
        let lifetime = version >= 1 ? try reader.readInt64() : 0
        return SaslAuthenticateResponse(errorCode: errorCode, errorMessage: message, authBytes: bytes,
                                        sessionLifetimeMs: lifetime)
    }
}

package struct SaslAuthenticateResponse: Sendable, Equatable {
    package var errorCode: KafkaErrorCode
    package var errorMessage: String?
    package var authBytes: [UInt8]
    /// 0: the session does not expire (Sluice's connections are short-lived and do not re-authenticate).
    package var sessionLifetimeMs: Int64
}
