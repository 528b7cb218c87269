import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Captures the wire fixtures the fuzz tests start from: real responses of the embedded broker to
/// ApiVersions, Metadata, FindCoordinator, EndTxn, and Fetch of batches librdkafka wrote with every
/// codec. Runs only when asked (`SLUICE_CAPTURE_WIRE_FIXTURES=1 swift test --filter WireFixtureCapture`),
/// and rewrites Fixtures/wire/*.hex.
@Suite struct WireFixtureCapture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/wire").path

    /// `Inner` on the wire, answered by its raw body (the bytes `Inner.decodeResponse` reads).
    struct RawBody<Inner: KafkaRequest>: KafkaRequest {
        typealias Response = [UInt8]
        static var apiKey: Int16 { Inner.apiKey }
        static var apiName: String { Inner.apiName }
        static var supportedVersions: ClosedRange<Int16> { Inner.supportedVersions }
        static var firstFlexibleVersion: Int16? { Inner.firstFlexibleVersion }
        let inner: Inner
        var version: Int16 { inner.version }
        func encodeBody(into writer: inout WireWriter) { inner.encodeBody(into: &writer) }
        func decodeResponse(from reader: inout WireReader) throws -> [UInt8] { try reader.readRawBytes(reader.remaining) }
    }

    func save(_ name: String, _ body: [UInt8]) throws {
        // A fixture that does not decode is useless: check before writing it.
        let parts = name.split(separator: "-")
        try WireFuzz.decode(api: String(parts[0]), version: Int16(parts[1].dropFirst()) ?? 0, body: body)
        try WireFixture.hex(body).write(toFile: Self.directory + "/" + name + ".hex", atomically: true, encoding: .utf8)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_CAPTURE_WIRE_FIXTURES"] == "1"))
    func captureFixtures() throws {
        let (broker, topic) = try WireTestBroker.topic("fuzz-fixtures")
        let client = try KafkaWireClient(bootstrap: broker.bootstrap)
        defer { client.close() }
        let connection = try client.anyConnection()

        let apiVersions = ApiVersionsRequest(version: try connection.version(for: ApiVersionsRequest.self))
        try save("apiversions-v\(apiVersions.version)", try connection.send(RawBody(inner: apiVersions)))
        let metadata = MetadataRequest(version: try connection.version(for: MetadataRequest.self), topics: [topic])
        try save("metadata-v\(metadata.version)", try connection.send(RawBody(inner: metadata)))

        // One batch per codec, each written by librdkafka with compression.codec set.
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
            configuration["compression.codec"] = codec
            configuration["linger.ms"] = "50"
            let producer = try KafkaProducer(configuration: configuration)
            for index in 0..<20 {
                try producer.produce(ProducerRecord(topic: topic, partition: 0, key: Array("key-\(index)".utf8),
                                                    value: Array("click \(index) of a \(codec) batch".utf8),
                                                    headers: [KafkaHeader(key: "codec", value: codec)]))
            }
            try producer.flush(timeout: .seconds(30))
            producer.close()
        }
        let leader = try client.leader(of: SluiceKafkaWire.TopicPartition(topic, 0))
        let fetching = try client.connection(to: leader)
        let fetch = FetchRequest(
            version: try fetching.version(for: FetchRequest.self), maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20,
            isolationLevel: .readUncommitted, topics: [(topic, [FetchRequest.Partition(partition: 0, fetchOffset: 0, maxBytes: 1 << 20)])])
        let fetched = try fetching.send(RawBody(inner: fetch))
        try save("fetch-v\(fetch.version)-all-codecs", fetched)

        // EndTxn of a real open transaction, as the transaction resolver sends it.
        let transactionalId = EmbeddedBroker.uniqueName("fuzz-txn")
        var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
        configuration.transactionalId = transactionalId
        let producer = try KafkaTransactionalProducer(configuration: configuration)
        try producer.initTransactions(timeout: .seconds(30))
        try producer.beginTransaction()
        try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: Array("in a transaction".utf8)))
        try producer.flush(timeout: .seconds(30))
        let identity = try producer.producerIdAndEpoch(timeout: .seconds(10))
        let findCoordinator = FindCoordinatorRequest(version: try connection.version(for: FindCoordinatorRequest.self),
                                                     key: transactionalId, keyType: .transaction)
        try save("findcoordinator-v\(findCoordinator.version)", try connection.send(RawBody(inner: findCoordinator)))
        let coordinator = try client.connection(to: try client.findTransactionCoordinator(transactionalId))
        let endTxn = EndTxnRequest(version: try coordinator.version(for: EndTxnRequest.self), transactionalId: transactionalId,
                                   producerId: identity.producerId, producerEpoch: identity.epoch, committed: true)
        try save("endtxn-v\(endTxn.version)", try coordinator.send(RawBody(inner: endTxn)))
        producer.close()
    }
}
