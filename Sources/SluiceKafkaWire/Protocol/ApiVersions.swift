/// ApiVersions (key 18) v0-v2: which versions of each API the broker speaks.
package struct ApiVersionsRequest: KafkaRequest {
    public static let apiKey: Int16 = 18
    public static let apiName = "ApiVersions"
    public static let supportedVersions: ClosedRange<Int16> = 0...2
    public let version: Int16

    public init(version: Int16 = 0) { self.version = version }

    public func encodeBody(into writer: inout WireWriter) {}

    public func decodeResponse(from reader: inout WireReader) throws -> ApiVersionsResponse {
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        let entries = try reader.readArray { reader -> (Int16, ClosedRange<Int16>) in
            let key = try reader.readInt16()
            let low = try reader.readInt16()
            let high = try reader.readInt16()
            guard low <= high else { throw KafkaWireError.malformed("ApiVersions range \(low)...\(high) for key \(key)") }
            return (key, low...high)
        }
        if version >= 1 { _ = try reader.readInt32() }  // throttle_time_ms
        return ApiVersionsResponse(errorCode: errorCode, versions: Dictionary(entries, uniquingKeysWith: { $1 }))
    }
}

package struct ApiVersionsResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    /// Supported version range per API key.
    public var versions: [Int16: ClosedRange<Int16>]

    public init(errorCode: KafkaErrorCode, versions: [Int16: ClosedRange<Int16>]) {
        self.errorCode = errorCode
        self.versions = versions
    }

    public func range<Request: KafkaRequest>(of request: Request.Type) -> ClosedRange<Int16>? { versions[request.apiKey] }
}
