import NIOSSL

/// How Sluice's own wire connections secure themselves, read from the same librdkafka properties the
/// job's clients get (`security.protocol`, `ssl.*`, `sasl.*`), so a cluster's security is configured once.
///
/// Built when the job or command starts: anything the wire layer cannot honour (a SASL mechanism other
/// than PLAIN and SCRAM, a key store, a missing file) is refused here, never discovered at recovery time.
/// Building also loads the CA, certificate and key, so a bad file fails at start too.
public struct KafkaWireSecurity: Sendable {
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext = "PLAINTEXT"
        case ssl = "SSL"
        case saslPlaintext = "SASL_PLAINTEXT"
        case saslSsl = "SASL_SSL"

        public var usesTLS: Bool { self == .ssl || self == .saslSsl }
        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSsl }
    }

    public enum SaslMechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case scramSha256 = "SCRAM-SHA-256"
        case scramSha512 = "SCRAM-SHA-512"
    }

    public struct SaslCredentials: Sendable {
        public var mechanism: SaslMechanism
        public var username: String
        public var password: String
    }

    public let securityProtocol: SecurityProtocol
    /// Set when `securityProtocol` uses SASL.
    public let sasl: SaslCredentials?
    /// Set when `securityProtocol` uses TLS.
    public let tls: WireTLS?

    /// No TLS, no SASL.
    public static let plaintext = KafkaWireSecurity(securityProtocol: .plaintext, sasl: nil, tls: nil)

    private init(securityProtocol: SecurityProtocol, sasl: SaslCredentials?, tls: WireTLS?) {
        self.securityProtocol = securityProtocol
        self.sasl = sasl
        self.tls = tls
    }

    /// The wire security a librdkafka client with these properties would use. Keys the wire layer does
    /// not need (producer or consumer settings) are ignored; security keys it cannot honour are refused.
    public init(properties: [String: String]) throws(KafkaWireError) {
        let protocolName = properties["security.protocol"]?.uppercased() ?? "PLAINTEXT"
        guard let securityProtocol = SecurityProtocol(rawValue: protocolName) else {
            throw Self.refuse("security.protocol=\(properties["security.protocol"] ?? "") is not one of "
                + SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", "))
        }
        for key in Self.unsupportedKeys where properties[key] != nil && securityProtocol != .plaintext {
            throw Self.refuse("\(key) is not supported by Sluice's own connections; "
                + "use ssl.ca.location, ssl.certificate.location and ssl.key.location with PEM files")
        }
        self.securityProtocol = securityProtocol
        self.sasl = securityProtocol.usesSASL ? try Self.saslCredentials(properties) : nil
        self.tls = securityProtocol.usesTLS ? try WireTLS(properties: properties) : nil
    }

    /// Key stores, engines and inline PEM, which librdkafka knows and the wire layer does not.
    static let unsupportedKeys = ["ssl.keystore.location", "ssl.keystore.password", "ssl.engine.location",
                                  "ssl.engine.id", "ssl.ca.pem", "ssl.certificate.pem", "ssl.key.pem",
                                  "ssl.ca.certificate.stores", "ssl.crl.location", "sasl.oauthbearer.config",
                                  "sasl.oauthbearer.method", "sasl.kerberos.service.name"]

    private static func saslCredentials(_ properties: [String: String]) throws(KafkaWireError) -> SaslCredentials {
        // librdkafka spells it sasl.mechanisms (sasl.mechanism is its alias) and defaults to GSSAPI.
        guard let name = properties["sasl.mechanisms"] ?? properties["sasl.mechanism"] else {
            throw refuse("sasl.mechanism is not set (librdkafka would use GSSAPI, which Sluice's own connections "
                + "do not speak); set sasl.mechanism=PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
        }
        guard let mechanism = SaslMechanism(rawValue: name.trimmingWhitespace().uppercased()) else {
            throw refuse("SASL mechanism '\(name)' is not supported by Sluice's own connections (recovery, the "
                + "transaction-aware reader, the CLI); use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
        }
        guard let username = properties["sasl.username"], !username.isEmpty else {
            throw refuse("sasl.username is not set; SASL \(mechanism.rawValue) needs sasl.username and sasl.password")
        }
        guard let password = properties["sasl.password"] else {
            throw refuse("sasl.password is not set; SASL \(mechanism.rawValue) needs sasl.username and sasl.password")
        }
        return SaslCredentials(mechanism: mechanism, username: username, password: password)
    }

    /// A plaintext connection that the broker closes (or answers with bytes that are no Kafka frame) before
    /// ApiVersions is most likely talking to a TLS listener: say so instead of "connection closed".
    func explainHandshakeFailure(_ error: any Error, host: String, port: Int) -> any Error {
        guard !securityProtocol.usesTLS, let wire = error as? KafkaWireError else { return error }
        switch wire {
        case .connectionClosed, .malformed:
            return KafkaWireError.security(.closedBeforeHandshake(host: host, port: port,
                                                                  securityProtocol: securityProtocol.rawValue))
        default:
            return error
        }
    }

    static func refuse(_ reason: String) -> KafkaWireError { .security(.unsupportedConfiguration(reason)) }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
