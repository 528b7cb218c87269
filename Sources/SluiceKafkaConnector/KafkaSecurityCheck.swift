import Logging
import SluiceKafkaWire

/// Checks a job's Kafka security settings once, before anything starts: the settings must be ones
/// Sluice's own connections (recovery, the transaction-aware reader) can speak, and one connection
/// with them must get through TLS and SASL. A wrong password, an untrusted certificate or a mechanism
/// the broker does not offer then stops the job at once with the cause, instead of surfacing as
/// librdkafka retries or, worse, at the recovery after a crash.
public enum KafkaSecurityCheck {
    /// Throws `KafkaWireError.security` for settings or a handshake that cannot work. A broker that is
    /// merely unreachable is only logged: the job's clients wait for it as they always have.
    public static func verify(bootstrap: String, properties: [String: String], logger: Logger) throws {
        let security = try KafkaWireSecurity(properties: properties)
        let client = try KafkaWireClient(bootstrap: bootstrap, options: KafkaConnectionOptions(security: security),
                                         retry: RetryPolicy(attempts: 1))
        defer { client.close() }
        do {
            _ = try client.anyConnection()
        } catch let error as KafkaWireError {
            if case .security = error { throw error }
            logger.warning("Could not check the Kafka connection's security at start: \(error)")
        }
    }
}
