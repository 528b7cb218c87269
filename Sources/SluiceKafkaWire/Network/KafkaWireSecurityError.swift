/// Why a secured connection could not be set up; each message names the cause and the setting to check.
public enum KafkaWireSecurityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Security properties the wire layer cannot honour, refused when the options are built.
    case unsupportedConfiguration(String)
    /// A CA, certificate or key file that cannot be read or parsed.
    case unreadableFile(key: String, path: String, reason: String)
    /// The TLS handshake failed (certificate not trusted or expired, hostname mismatch, client certificate
    /// refused, not a TLS listener).
    case tlsHandshakeFailed(host: String, port: Int, reason: String)
    /// The TLS handshake did not finish in time: typically a plaintext listener, which waits for a frame.
    case tlsHandshakeTimeout(host: String, port: Int, milliseconds: Int64)
    /// A plaintext connection closed by the broker before it answered ApiVersions: typically a TLS listener.
    case closedBeforeHandshake(host: String, port: Int, securityProtocol: String)
    /// The broker does not offer the configured SASL mechanism.
    case mechanismNotOffered(host: String, port: Int, mechanism: String, offered: [String])
    /// The broker refused the credentials (wrong password, unknown user).
    case authenticationFailed(host: String, port: Int, mechanism: String, username: String, message: String)
    /// The SASL exchange broke the mechanism's rules (a forged or garbled server message).
    case saslExchangeFailed(host: String, port: Int, mechanism: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedConfiguration(let reason):
            return "Unsupported Kafka security configuration: \(reason)."
        case .unreadableFile(let key, let path, let reason):
            return "Cannot load \(key)=\(path): \(reason). Check the path and that it is a PEM file."
        case .tlsHandshakeFailed(let host, let port, let reason):
            return "TLS handshake with the broker at \(host):\(port) failed: \(reason)."
        case .tlsHandshakeTimeout(let host, let port, let ms):
            return "TLS handshake with the broker at \(host):\(port) got no answer within \(ms) ms: is it a plaintext "
                + "listener? Use security.protocol=PLAINTEXT or SASL_PLAINTEXT for it, or the broker's TLS port."
        case .closedBeforeHandshake(let host, let port, let securityProtocol):
            return "The broker at \(host):\(port) closed the \(securityProtocol) connection before answering ApiVersions: "
                + "is it a TLS listener? Use security.protocol=SSL or SASL_SSL for it"
                + (securityProtocol == "SASL_PLAINTEXT" ? "" : ", or SASL_PLAINTEXT if it requires SASL") + "."
        case .mechanismNotOffered(let host, let port, let mechanism, let offered):
            return "The broker at \(host):\(port) does not offer SASL mechanism \(mechanism) (it offers "
                + "\(offered.isEmpty ? "none" : offered.joined(separator: ", "))); set sasl.mechanism to one of those."
        case .authenticationFailed(let host, let port, let mechanism, let username, let message):
            return "SASL \(mechanism) authentication of user '\(username)' failed at the broker at \(host):\(port): "
                + "\(message). Check sasl.username and sasl.password."
        case .saslExchangeFailed(let host, let port, let mechanism, let reason):
            return "SASL \(mechanism) exchange with the broker at \(host):\(port) failed: \(reason)."
        }
    }
}
