/// EndTxn (key 26) v0-v3: commits or aborts a transaction by (transactional id, producer id, epoch).
/// v0-v2 share one layout; v3 is the same in flexible encoding.
package struct EndTxnRequest: KafkaRequest {
    public static let apiKey: Int16 = 26
    public static let apiName = "EndTxn"
    public static let supportedVersions: ClosedRange<Int16> = 0...3
    public static let firstFlexibleVersion: Int16? = 3

    public let version: Int16
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var committed: Bool

    public init(version: Int16 = 1, transactionalId: String, producerId: Int64, producerEpoch: Int16, committed: Bool) {
        self.version = version
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.committed = committed
    }

    public func encodeBody(into writer: inout WireWriter) {
        if isFlexible { writer.writeCompactString(transactionalId) } else { writer.writeString(transactionalId) }
        writer.writeInt64(producerId)
        writer.writeInt16(producerEpoch)
        writer.writeBool(committed)
        if isFlexible { writer.writeTaggedFields() }
    }

    public func decodeResponse(from reader: inout WireReader) throws -> EndTxnResponse {
        let throttle = try reader.readInt32()
        let errorCode = KafkaErrorCode(rawValue: try reader.readInt16())
        if isFlexible { try reader.readTaggedFields() }
        return EndTxnResponse(throttleTimeMs: throttle, errorCode: errorCode)
    }
}

package struct EndTxnResponse: Sendable, Hashable {
    public var throttleTimeMs: Int32
    public var errorCode: KafkaErrorCode
}
