import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Words for a failed TLS handshake. swift-nio-ssl reports BoringSSL's error codes
/// (CERTIFICATE_VERIFY_FAILED covers untrusted, expired and not-yet-valid certificates alike), so a
/// verification failure is explained from the certificate the broker presented.
enum TLSFailureReason {
    static func explain(_ error: any Error, peerCertificate: NIOSSLCertificate?, host: String,
                        trustSource: String, now: time_t = time(nil)) -> String {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "hostname mismatch: the broker's certificate does not name '\(host)' "
                + "(hostname verification is on: ssl.endpoint.identification.algorithm=https); "
                + "connect by a name the certificate lists, or fix its subjectAltName"
        }
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            if let peer = peerCertificate, peer.notValidAfter < now {
                return "the broker's certificate expired on \(utc(peer.notValidAfter)) (\(text))"
            }
            if let peer = peerCertificate, peer.notValidBefore > now {
                return "the broker's certificate is not valid before \(utc(peer.notValidBefore)) (\(text))"
            }
            return "the broker's certificate is not trusted: it is not signed by a CA in \(trustSource), "
                + "or it is expired (\(text))"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG")
            || text.contains("RECORD_LENGTH_MISMATCH") {
            return "the broker did not answer in TLS: is it a plaintext listener? Use security.protocol="
                + "PLAINTEXT or SASL_PLAINTEXT for it (\(text))"
        }
        if text.contains("EOF during handshake") || text.contains("uncleanShutdown") {
            return closedDuringHandshake
        }
        if text.contains("ALERT_UNKNOWN_CA") || text.contains("ALERT_BAD_CERTIFICATE")
            || text.contains("CERTIFICATE_REQUIRED") || text.contains("ALERT_HANDSHAKE_FAILURE") {
            return "the broker refused the client certificate (mutual TLS): set ssl.certificate.location and "
                + "ssl.key.location to a certificate its CA signed (\(text))"
        }
        return text
    }

    static let closedDuringHandshake = "the broker closed the connection during the handshake: is it a plaintext "
        + "listener? Use security.protocol=PLAINTEXT or SASL_PLAINTEXT for it. (A broker that requires a client "
        + "certificate also closes: then set ssl.certificate.location and ssl.key.location.)"

    static func utc(_ seconds: time_t) -> String {
        var value = seconds
        var parts = tm()
        gmtime_r(&value, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}
