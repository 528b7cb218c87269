import Foundation
import SluiceKafka
import SluiceTestKit
import Synchronization
import Testing

/// Bad input: every blocking call returns a typed error within its timeout.
@Suite("Failures give typed errors without hanging")
struct FailureTests {
    /// Nothing listens on port 1.
    static var unreachable: KafkaConfiguration {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration["reconnect.backoff.max.ms"] = "100"
        return configuration
    }

    @Test func initTransactionsAgainstUnreachableBrokerIsBrokerUnreachable() throws {
        var configuration = Self.unreachable
        configuration.transactionalId = "unreachable"
        let producer = try KafkaTransactionalProducer(configuration: configuration)
        defer { producer.close() }
        let started = ContinuousClock.now
        do {
            try producer.initTransactions(timeout: .seconds(2))
            Issue.record("initTransactions succeeded against 127.0.0.1:1")
        } catch {
            #expect(error.kind == .brokerUnreachable, "\(error)")
            #expect(error.transactionClass == .retriable, "\(error)")
        }
        // Bounded: the call honoured its timeout (generous slack for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func flushAndAdminAgainstUnreachableBroker() throws {
        let producer = try KafkaProducer(configuration: Self.unreachable)
        defer { producer.close() }
        try producer.produce(ProducerRecord(topic: "t", key: nil, value: "x"))
        #expect { try producer.flush(timeout: .seconds(1)) } throws: {
            ($0 as? KafkaError)?.kind == .brokerUnreachable
        }
        let admin = try KafkaAdmin(configuration: Self.unreachable)
        defer { admin.close() }
        #expect { try admin.listTopics(timeout: .seconds(1)) } throws: {
            let kind = ($0 as? KafkaError)?.kind
            return kind == .brokerUnreachable || kind == .timedOut
        }
        #expect { try admin.createTopic("t", partitions: 1, timeout: .seconds(1)) } throws: {
            let kind = ($0 as? KafkaError)?.kind
            return kind == .brokerUnreachable || kind == .timedOut
        }
    }

    @Test func consumerAgainstUnreachableBroker() throws {
        let consumer = try KafkaConsumer(configuration: Self.unreachable)
        defer { consumer.close() }
        #expect { try consumer.watermarks(TopicPartition("t", 0), timeout: .seconds(1)) } throws: {
            ($0 as? KafkaError)?.kind == .brokerUnreachable
        }
    }

    @Test func closeEndsPendingSendsWithAnError() async throws {
        let producer = try KafkaProducer(configuration: Self.unreachable)
        let outcome = Mutex<KafkaError.Kind??>(nil)
        let task = Task {
            do {
                _ = try await producer.send(ProducerRecord(topic: "t", key: nil, value: "never delivered"))
                outcome.withLock { $0 = .some(nil) }
            } catch let error as KafkaError {
                outcome.withLock { $0 = .some(error.kind) }
            }
        }
        while producer.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        producer.close()
        // Bounded wait: without the purge on close the send would never return.
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while outcome.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        let kind = outcome.withLock { $0 }
        #expect(kind == .some(.closed), "a purged record reports _PURGE_QUEUE (kind .closed); got \(String(describing: kind))")
    }

    @Test func undeliverableRecordTimesOut() async throws {
        var configuration = Self.unreachable
        configuration.messageTimeout = .milliseconds(300)
        let producer = try KafkaProducer(configuration: configuration)
        defer { producer.close() }
        do {
            _ = try await producer.send(ProducerRecord(topic: "t", key: nil, value: "x"))
            Issue.record("a record was delivered to 127.0.0.1:1")
        } catch let error as KafkaError {
            #expect(error.kind == .messageTimedOut, "\(error)")
        }
        #expect(producer.failedDeliveryCount == 1)
    }

    @Test func sendToUnknownTopicIsUnknownTopic() async throws {
        let broker = try TestBroker.get()
        var configuration = KafkaConfiguration.test(broker)
        configuration["allow.auto.create.topics"] = "false"
        // librdkafka waits this long (default 30 s) before declaring a topic missing.
        configuration["topic.metadata.propagation.max.ms"] = "500"
        let producer = try KafkaProducer(configuration: configuration)
        defer { producer.close() }
        do {
            _ = try await producer.send(
                ProducerRecord(topic: EmbeddedBroker.uniqueName("nope"), key: nil, value: "x"), timeout: .seconds(10))
            Issue.record("sending to a missing topic succeeded")
        } catch let error as KafkaError {
            #expect(error.kind == .unknownTopicOrPartition, "\(error)")
        }
    }

    /// 2^31-1 ms is refused before connecting: librdkafka checks socket.timeout.ms <=
    /// transaction.timeout.ms + 100 in 32-bit arithmetic, which overflows.
    @Test func maximalTransactionTimeoutIsRefusedBeforeConnecting() {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.transactionalId = "huge"
        configuration.transactionTimeout = .milliseconds(Int(Int32.max))
        configuration.messageTimeout = .milliseconds(30_000)
        #expect { try KafkaTransactionalProducer(configuration: configuration) } throws: {
            ($0 as? KafkaError)?.configurationKey == "transaction.timeout.ms"
        }
    }

    /// One hour is above a real Kafka broker's default transaction.max.timeout.ms (15 min), which
    /// answers INVALID_TRANSACTION_TIMEOUT. Measured: the embedded broker (Tansu 0.6.0) accepts it and
    /// the transaction commits; either outcome passes, anything else fails.
    @Test func transactionTimeoutAboveKafkasMaximum() throws {
        let (broker, topic) = try TestBroker.topic("huge-timeout")
        var configuration = KafkaConfiguration.test(broker)
        configuration.transactionalId = EmbeddedBroker.uniqueName("huge")
        configuration.transactionTimeout = .milliseconds(3_600_000)
        configuration.messageTimeout = .milliseconds(30_000)
        let producer = try KafkaTransactionalProducer(configuration: configuration)
        defer { producer.close() }
        do {
            try producer.initTransactions(timeout: .seconds(10))
            try producer.beginTransaction()
            try producer.produce(ProducerRecord(topic: topic, key: nil, value: "x"))
            try producer.commitTransaction(timeout: .seconds(10))
            #expect(broker.isEmbedded, "an external Kafka broker accepted a 1 h transaction timeout")
        } catch {
            #expect(error.kind == .invalidTransactionTimeout, "\(error)")
        }
    }

    @Test func librdkafkaCreationErrorsNameTheKey() {
        // Passes our own checks, but librdkafka refuses it when creating the client.
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.enableIdempotence = true
        configuration["max.in.flight"] = "10"
        #expect { try KafkaProducer(configuration: configuration) } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.kind == .invalidConfiguration && error.configurationKey == "max.in.flight"
        }
    }
}
