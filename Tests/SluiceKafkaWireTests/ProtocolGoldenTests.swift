import NIOCore
import Testing
@testable import SluiceKafkaWire

/// Frames assembled by hand from the message definitions (EndTxnRequest.json, FindCoordinator*.json,
/// ApiVersionsResponse.json) and the request header v1/v2 layout.
@Suite struct ProtocolGoldenTests {
    @Test func endTxnV1Request() {
        let request = EndTxnRequest(version: 1, transactionalId: "tx", producerId: 1000, producerEpoch: 2, committed: true)
        let frame = request.encodeFrame(correlationId: 7, clientId: "t").bytes
        #expect(frame == [
            0x00, 0x00, 0x00, 0x1A,  // size 26
            0x00, 0x1A, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, 0x74,  // header v1: key 26, v1, corr 7, "t"
            0x00, 0x02, 0x74, 0x78,  // transactional_id "tx"
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,  // producer_id 1000
            0x00, 0x02,  // producer_epoch 2
            0x01,  // committed
        ])
    }

    @Test func endTxnV3RequestIsFlexible() {
        let request = EndTxnRequest(version: 3, transactionalId: "tx", producerId: 1000, producerEpoch: 2, committed: false)
        let frame = request.encodeFrame(correlationId: 7, clientId: "t").bytes
        #expect(frame == [
            0x00, 0x00, 0x00, 0x1B,  // size 27
            0x00, 0x1A, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, 0x74, 0x00,  // header v2: + empty tags
            0x03, 0x74, 0x78,  // compact string
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,
            0x00, 0x02,
            0x00,  // abort
            0x00,  // tags
        ])
    }

    @Test func endTxnResponses() throws {
        let v1 = EndTxnRequest(version: 1, transactionalId: "tx", producerId: 1, producerEpoch: 0, committed: true)
        #expect(try v1.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [0, 0, 0, 0, 0x00, 0x00])).errorCode == .none)
        let fenced = try v1.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [0, 0, 0, 5, 0x00, 0x5A]))
        #expect(fenced.errorCode == .producerFenced)
        #expect(fenced.throttleTimeMs == 5)
        let v3 = EndTxnRequest(version: 3, transactionalId: "tx", producerId: 1, producerEpoch: 0, committed: true)
        // Response header v1 carries a tag section after the correlation id; the body ends with one too.
        #expect(try v3.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [0x00, 0, 0, 0, 0, 0x00, 0x30, 0x00])).errorCode
            == .invalidTxnState)
        #expect(throws: KafkaWireError.self) { try v1.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [0, 0, 0])) }
    }

    @Test func findCoordinatorV1RequestAndResponse() throws {
        let request = FindCoordinatorRequest(version: 1, key: "tx", keyType: .transaction)
        #expect(request.encodeFrame(correlationId: 1, clientId: nil).bytes == [
            0x00, 0x00, 0x00, 0x0F,
            0x00, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF,  // null client id
            0x00, 0x02, 0x74, 0x78, 0x01,  // key "tx", key_type 1
        ])
        let ok = try request.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [
            0x00, 0x00, 0x00, 0x00,  // throttle
            0x00, 0x00,  // error
            0xFF, 0xFF,  // null message
            0x00, 0x00, 0x00, 0x01,  // node 1
            0x00, 0x01, 0x68,  // host "h"
            0x00, 0x00, 0x23, 0x84,  // port 9092
        ]))
        #expect(ok == FindCoordinatorResponse(throttleTimeMs: 0, errorCode: .none, errorMessage: nil, nodeId: 1, host: "h", port: 9092))
        let unavailable = try request.decodeResponseAfterCorrelationId(ByteBuffer(bytes: [
            0, 0, 0, 0, 0x00, 0x0F, 0x00, 0x01, 0x78, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
        ]))
        #expect(unavailable.errorCode == .coordinatorNotAvailable)
        #expect(unavailable.errorMessage == "x")
    }

    @Test func apiVersionsV0ResponseAndNegotiation() throws {
        let response = try ApiVersionsRequest(version: 0).decodeResponseAfterCorrelationId(ByteBuffer(bytes: [
            0x00, 0x00,  // error
            0x00, 0x00, 0x00, 0x03,  // 3 entries
            0x00, 0x12, 0x00, 0x00, 0x00, 0x04,  // ApiVersions 0...4
            0x00, 0x1A, 0x00, 0x00, 0x00, 0x04,  // EndTxn 0...4
            0x00, 0x01, 0x00, 0x00, 0x00, 0x11,  // Fetch 0...17
        ]))
        #expect(response.errorCode == .none)
        #expect(response.versions == [18: 0...4, 26: 0...4, 1: 0...17])
        #expect(try EndTxnRequest.negotiateVersion(broker: response.range(of: EndTxnRequest.self)) == 3)
        #expect(try FetchRequest.negotiateVersion(broker: response.range(of: FetchRequest.self)) == 11)
        #expect(throws: KafkaWireError.unsupportedVersion(api: "Metadata", ours: 1...8, broker: nil)) {
            try MetadataRequest.negotiateVersion(broker: response.range(of: MetadataRequest.self))
        }
    }

    @Test func fetchV4RequestLayout() {
        let request = FetchRequest(version: 4, maxWaitMs: 50, minBytes: 1, maxBytes: 1024, isolationLevel: .readUncommitted,
                                   topics: [("t", [FetchRequest.Partition(partition: 2, fetchOffset: 9, maxBytes: 512)])])
        var writer = WireWriter()
        request.encodeBody(into: &writer)
        #expect(writer.bytes == [
            0xFF, 0xFF, 0xFF, 0xFF,  // replica -1
            0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x04, 0x00,  // wait, min, max
            0x00,  // isolation
            0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x74,  // one topic "t"
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  // one partition: 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x02, 0x00,  // offset 9, 512 bytes
        ])
    }
}
