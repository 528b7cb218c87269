import Foundation
import NIOCore
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Against the real embedded broker (Tansu), or KAFKA_BOOTSTRAP.
@Suite(.serialized) struct WireIntegrationTests {
    @Test func handshakeMetadataAndCoordinator() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-meta", partitions: 3)
        let client = try KafkaWireClient(bootstrap: broker.bootstrap)
        defer { client.close() }
        let connection = try client.anyConnection()
        #expect(connection.apiVersions.range(of: EndTxnRequest.self) != nil)
        #expect(try connection.version(for: FetchRequest.self) >= 4)
        let (_, metadata) = try client.partitions(of: topic)
        #expect(metadata.partitions.map(\.partition) == [0, 1, 2])
        let coordinator = try client.findTransactionCoordinator(EmbeddedBroker.uniqueName("tx"))
        #expect(coordinator.port > 0)
        #expect(throws: KafkaWireError.unknownTopicOrPartition(topic: "no-such-topic-\(topic)", partition: nil)) {
            _ = try KafkaWireClient(bootstrap: broker.bootstrap, retry: RetryPolicy(attempts: 2, backoff: .zero))
                .partitions(of: "no-such-topic-\(topic)")
        }
    }

    @Test func refusedConnectionAndSilentBrokerAreTypedErrors() throws {
        // A listening socket that never accepts: TCP connects (backlog), but nobody answers.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        #expect(listen(listener, 4) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let options = KafkaConnectionOptions(connectTimeout: .seconds(2), requestTimeout: .milliseconds(200))
        #expect(throws: KafkaWireError.requestTimeout(api: "ApiVersions", host: "127.0.0.1", port: port, milliseconds: 200)) {
            _ = try KafkaConnection.connect(host: "127.0.0.1", port: port, options: options)
        }
        close(listener)
        do {
            _ = try KafkaConnection.connect(host: "127.0.0.1", port: port, options: options)
            Issue.record("connecting to a closed port succeeded")
        } catch KafkaWireError.connectionRefused(let host, let refusedPort, _) {
            #expect(host == "127.0.0.1" && refusedPort == port)
        }
    }

    @Test func producedCompressedBatchesReadBack() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-produce")
        let client = try KafkaWireClient(bootstrap: broker.bootstrap)
        defer { client.close() }
        let leader = try client.connection(to: try client.leader(of: TopicPartition(topic, 0)))
        var expected: [String] = []
        for codec in CompressionCodec.allCases {
            let records = (0..<3).map { Record(offset: Int64($0), timestamp: 1_000 + Int64($0), key: nil,
                                               value: Array("\(codec)-\($0)".utf8)) }
            expected += records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            let batch = RecordBatch(baseOffset: 0, attributes: RecordBatchAttributes(compression: codec), records: records)
            let response = try leader.send(ProduceRequest(
                version: try leader.version(for: ProduceRequest.self), transactionalId: nil,
                data: [(topic, [(0, try batch.encoded())])]))
            #expect(response.results.map(\.errorCode) == [.none])
        }
        let log = try TransactionAwareLogReader(client: client).readPartition(TopicPartition(topic, 0))
        #expect(values(log.committedRecords) == expected)
        #expect(log.committedRecords.map(\.offset) == Array(0..<Int64(expected.count)))
        #expect(log.transactions.isEmpty)
        // Small fetches force many round trips and the raise-the-bound path.
        let small = TransactionAwareLogReader(client: client, options: LogReadOptions(partitionMaxBytes: 16))
        #expect(values(try small.readPartition(TopicPartition(topic, 0), from: 4).committedRecords) == Array(expected[4...]))
    }

    /// (a) committed visible; aborted and open invisible (Tansu's own read_committed shows aborted data).
    @Test func committedAbortedAndOpenTransactions() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-txn")
        let committer = try transactionalProducer(broker, id: EmbeddedBroker.uniqueName("commit"))
        defer { committer.close() }
        try committer.beginTransaction()
        for index in 0..<3 { try committer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "c\(index)")) }
        try committer.commitTransaction(timeout: .seconds(30))
        try committer.beginTransaction()
        for index in 0..<2 { try committer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "a\(index)")) }
        try committer.flush(timeout: .seconds(30))
        try committer.abortTransaction(timeout: .seconds(30))

        let opener = try transactionalProducer(broker, id: EmbeddedBroker.uniqueName("open"))
        defer { opener.close() }
        try opener.beginTransaction()
        for index in 0..<2 { try opener.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "o\(index)")) }
        try opener.flush(timeout: .seconds(30))

        try committer.beginTransaction()
        try committer.produce(ProducerRecord(topic: topic, partition: 0, key: nil, value: "late"))
        try committer.commitTransaction(timeout: .seconds(30))

        let reader = try TransactionAwareLogReader(bootstrap: broker.bootstrap)
        let log = try reader.readTopic(topic)
        #expect(values(log.committedRecords) == ["c0", "c1", "c2", "late"])
        #expect(log.transactions.map(\.state) == [.committed, .aborted, .open, .committed])
        #expect(log.transactions.map(\.recordCount) == [3, 2, 2, 1])
        let partition = try #require(log.partitions.first)
        let open = try #require(partition.openTransactions.first)
        #expect(partition.lastStableOffset == open.firstOffset)
        #expect(values(partition.committedRecordsBelowLastStableOffset) == ["c0", "c1", "c2"])
        #expect(partition.brokerLastStableOffset == open.firstOffset)
        try opener.abortTransaction(timeout: .seconds(30))
    }

    /// (b) a producer dies with its transaction open; a fresh resolver commits it, exactly once.
    @Test func crashAndCommit() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-crash")
        let id = EmbeddedBroker.uniqueName("crash")
        let line = try openTransactionInChildAndKill(bootstrap: broker.bootstrap, topic: topic, transactionalId: id, count: 5)
        let committable = try line.committable()
        #expect(committable.firstOffsets == [TopicPartition(topic, 0): 0])

        let reader = try TransactionAwareLogReader(bootstrap: broker.bootstrap)
        let before = try reader.readTopic(topic)
        #expect(before.committedRecords.isEmpty)
        #expect(before.transactions.map(\.state) == [.open])

        let resolver = try TransactionResolver(bootstrap: broker.bootstrap)
        #expect(resolver.commit(committable) == .committed)
        let after = try reader.readTopic(topic)
        #expect(values(after.committedRecords) == (0..<5).map { "record-\($0)" })
        #expect(after.transactions.map(\.state) == [.committed])
        #expect(after.transactions.first?.producerId == line.producerId)

        #expect(resolver.commit(committable) == .alreadyResolved(.committed))
        #expect(try TransactionResolver(bootstrap: broker.bootstrap).commit(committable) == .alreadyResolved(.committed))
        #expect(values(try reader.readTopic(topic).committedRecords).count == 5)
    }

    /// (c) a later initTransactions fences the dead producer's epoch: committing it must never succeed.
    @Test func fencedEpochIsNeverCommitted() throws {
        let (broker, topic) = try WireTestBroker.topic("wire-fenced")
        let id = EmbeddedBroker.uniqueName("fenced")
        let line = try openTransactionInChildAndKill(bootstrap: broker.bootstrap, topic: topic, transactionalId: id, count: 3)
        let successor = try transactionalProducer(broker, id: id)
        defer { successor.close() }

        let resolver = try TransactionResolver(
            bootstrap: broker.bootstrap, options: KafkaConnectionOptions(requestTimeout: .seconds(5)),
            retry: RetryPolicy(attempts: 3, backoff: .milliseconds(50)))
        let blind = resolver.commit(try line.committable(includeOffsets: false))
        switch blind {
        case .fenced, .unknown: break
        default: Issue.record("EndTxn with a fenced epoch gave \(blind)")
        }
        let informed = resolver.commit(try line.committable())
        #expect(informed == .alreadyResolved(.aborted))
        let log = try TransactionAwareLogReader(bootstrap: broker.bootstrap).readTopic(topic)
        #expect(log.committedRecords.isEmpty)
        #expect(log.transactions.map(\.state) == [.aborted])
    }
}
