import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// TLS and SASL end to end, against the embedded broker behind real fronts: stunnel4 for TLS (certificates
/// made by openssl at test time) and the SASL front (SCRAM by scramp). The front is proven with librdkafka,
/// which checks the server's SCRAM signature, before it is trusted to test Sluice's own SASL code.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SecuredKafkaTests {
    /// librdkafka commits a transaction through the SASL front with SCRAM-SHA-512 and reads it back
    /// read_committed; with a wrong password it gets nowhere.
    @Test func saslFrontWorksForLibrdkafkaAndRefusesAWrongPassword() throws {
        let secured = try SecuredSetup.saslScram512.start()
        defer { secured.stop() }
        let topic = EmbeddedBroker.uniqueName("sasl-proof")
        try secured.broker.createTopic(topic, partitions: 1)
        let properties = try SecuredSetup.saslScram512.properties
        let producer = try securedProducer(bootstrap: secured.bootstrap, properties: properties)
        defer { producer.close() }
        try producer.beginTransaction()
        for index in 0..<3 { try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "v\(index)")) }
        try producer.commitTransaction(timeout: .seconds(30))
        let read = try readCommittedWithLibrdkafka(bootstrap: secured.bootstrap, properties: properties, topic: topic, count: 3)
        #expect(read == ["v0", "v1", "v2"])

        var wrong = properties
        wrong["sasl.password"] = "not-the-password"
        let refused = measureFailure {
            let producer = try securedProducer(bootstrap: secured.bootstrap, properties: wrong, timeout: .seconds(8))
            producer.close()
        }
        #expect(refused.error != nil, "librdkafka got through the SASL front with a wrong password")
    }

    /// Sluice's wire client commits a dangling transaction (FindCoordinator + EndTxn through the
    /// transaction resolver) and the transaction-aware reader sees it, over each secured set-up.
    @Test(arguments: SecuredSetup.allCases)
    func wireClientCommitsADanglingTransactionAndReadsIt(_ setup: SecuredSetup) throws {
        let secured = try setup.start()
        defer { secured.stop() }
        let topic = EmbeddedBroker.uniqueName("secured-\(setup.rawValue)")
        try secured.broker.createTopic(topic, partitions: 1)
        let properties = try setup.properties
        let producer = try securedProducer(bootstrap: secured.bootstrap, properties: properties)
        defer { producer.close() }
        try producer.beginTransaction()
        for index in 0..<4 { try producer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "d\(index)")) }
        try producer.flush(timeout: .seconds(30))
        let identity = try producer.producerIdAndEpoch(timeout: .seconds(10))
        let firstOffsets = Dictionary(uniqueKeysWithValues: producer.currentTransactionFirstOffsets.map {
            (SluiceKafkaWire.TopicPartition($0.key.topic, $0.key.partition), $0.value)
        })

        let options = try wireOptions(properties)
        let reader = try TransactionAwareLogReader(bootstrap: secured.bootstrap, connection: options)
        #expect(try reader.readTopic(topic).committedRecords.isEmpty, "the open transaction is visible")
        let resolver = try TransactionResolver(bootstrap: secured.bootstrap, options: options)
        let outcome = resolver.commit(TransactionCommittable(
            transactionalId: producer.transactionalId, producerId: identity.producerId,
            epoch: identity.epoch, firstOffsets: firstOffsets))
        #expect(outcome == .committed, "\(outcome)")
        let log = try reader.readTopic(topic)
        #expect(values(log.committedRecords) == ["d0", "d1", "d2", "d3"])
        #expect(log.transactions.map(\.state) == [.committed])
    }

    /// Unsupported settings are refused when the options are built, before any connection.
    @Test func unsupportedSettingsAreRefusedAtStart() throws {
        let cases: [([String: String], String)] = [
            (["security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"], "OAUTHBEARER"),
            (["security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI", "sasl.username": "u"], "GSSAPI"),
            (["security.protocol": "SASL_PLAINTEXT", "sasl.username": "u", "sasl.password": "p"], "sasl.mechanism is not set"),
            (["security.protocol": "SSL", "ssl.keystore.location": "/k.p12"], "ssl.keystore.location"),
            (["security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"], "ssl.ca.location=/nonexistent/ca.pem"),
            (["security.protocol": "SSL", "ssl.certificate.location": "/c.pem"], "needs both"),
            (["security.protocol": "KERBEROS"], "security.protocol=KERBEROS"),
        ]
        for (properties, expected) in cases {
            #expect { try KafkaWireSecurity(properties: properties) } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }
}

private func values(_ records: [CommittedRecord]) -> [String] {
    records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
}
