import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// The secured set-ups of the TLS and SASL tests: which fronts stand before the broker, and the
/// librdkafka properties a client gives to get through them.
enum SecuredSetup: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case ssl, mutualTLS, saslPlain, saslScram256, saslScram512, saslSslScram512

    var testDescription: String { rawValue }

    static let user = "alice"
    static let password = "alice-secret"
    static let certificates = Result { try TestCertificates.make() }

    var layout: SecuredBroker.Layout {
        switch self {
        case .ssl: .ssl(mutual: false)
        case .mutualTLS: .ssl(mutual: true)
        case .saslPlain, .saslScram256, .saslScram512: .saslPlaintext(mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        case .saslSslScram512: .saslSsl(mechanisms: ["SCRAM-SHA-512"])
        }
    }

    var properties: [String: String] {
        get throws {
            let certificates = try Self.certificates.get()
            let tls = ["ssl.ca.location": certificates.caFile]
            let mutual = ["ssl.certificate.location": certificates.client.certificate,
                          "ssl.key.location": certificates.client.key]
            func sasl(_ mechanism: String) -> [String: String] {
                ["sasl.mechanism": mechanism, "sasl.username": Self.user, "sasl.password": Self.password]
            }
            switch self {
            case .ssl: return tls.merging(["security.protocol": "SSL"]) { $1 }
            case .mutualTLS: return tls.merging(mutual) { $1 }.merging(["security.protocol": "SSL"]) { $1 }
            case .saslPlain: return sasl("PLAIN").merging(["security.protocol": "SASL_PLAINTEXT"]) { $1 }
            case .saslScram256: return sasl("SCRAM-SHA-256").merging(["security.protocol": "SASL_PLAINTEXT"]) { $1 }
            case .saslScram512: return sasl("SCRAM-SHA-512").merging(["security.protocol": "SASL_PLAINTEXT"]) { $1 }
            case .saslSslScram512:
                return sasl("SCRAM-SHA-512").merging(tls) { $1 }.merging(["security.protocol": "SASL_SSL"]) { $1 }
            }
        }
    }

    func start() throws -> SecuredBroker {
        try SecuredBroker.start(layout, certificates: try Self.certificates.get(), users: [Self.user: Self.password])
    }
}

/// `-X key=value` arguments for the CLI and the job.
func clientArguments(_ properties: [String: String]) -> [String] {
    properties.sorted { $0.key < $1.key }.flatMap { ["-X", "\($0.key)=\($0.value)"] }
}

func wireOptions(_ properties: [String: String], connectTimeout: Int64 = 5) throws -> KafkaConnectionOptions {
    KafkaConnectionOptions(connectTimeout: .seconds(connectTimeout), requestTimeout: .seconds(10),
                           security: try KafkaWireSecurity(properties: properties))
}

/// A librdkafka transactional producer with the given client properties.
func securedProducer(bootstrap: String, properties: [String: String], timeout: Duration = .seconds(30)) throws
    -> KafkaTransactionalProducer
{
    var configuration = KafkaConfiguration(bootstrapServers: bootstrap, properties)
    configuration.transactionalId = EmbeddedBroker.uniqueName("secured")
    configuration.transactionTimeout = .seconds(900)
    configuration.messageTimeout = .seconds(30)
    let producer = try KafkaTransactionalProducer(configuration: configuration)
    do {
        try producer.initTransactions(timeout: timeout)
    } catch {
        producer.close()
        throw error
    }
    return producer
}

/// Reads `topic`'s partition 0 with a librdkafka read_committed consumer until `count` values or `timeout`.
func readCommittedWithLibrdkafka(bootstrap: String, properties: [String: String], topic: String, count: Int,
                                 timeout: TimeInterval = 20) throws -> [String] {
    var configuration = KafkaConfiguration(bootstrapServers: bootstrap, properties)
    configuration.isolationLevel = .readCommitted
    let consumer = try KafkaConsumer(configuration: configuration)
    defer { consumer.close() }
    try consumer.assign([SluiceKafka.TopicPartition(topic, 0): KafkaOffset.beginning])
    var values: [String] = []
    let deadline = Date().addingTimeInterval(timeout)
    while values.count < count && Date() < deadline {
        values += try consumer.pollRecords(timeout: .milliseconds(200)).map { String(decoding: $0.value ?? [], as: UTF8.self) }
    }
    return values
}

/// Measures how long `body` takes to throw, and what it threw.
func measureFailure(_ body: () throws -> Void) -> (error: (any Error)?, seconds: Double) {
    let start = Date()
    do {
        try body()
        return (nil, Date().timeIntervalSince(start))
    } catch {
        return (error, Date().timeIntervalSince(start))
    }
}
