import Foundation

/// A certificate authority and certificates made with openssl at test time, for TLS tests:
/// a server certificate for localhost / 127.0.0.1, a client certificate (mutual TLS), and the bad ones
/// (expired, for another host name, from a CA nobody trusts).
public struct TestCertificates: Sendable {
    public let directory: String
    public var caFile: String { directory + "/ca.pem" }
    /// Trusted by no test: signs `untrustedServer`.
    public var otherCAFile: String { directory + "/other-ca.pem" }

    public struct Pair: Sendable {
        public let certificate: String
        public let key: String
    }

    public var server: Pair { pair("server") }
    public var client: Pair { pair("client") }
    public var expiredServer: Pair { pair("expired") }
    public var wrongHostServer: Pair { pair("wronghost") }
    public var untrustedServer: Pair { pair("untrusted") }

    private func pair(_ name: String) -> Pair {
        Pair(certificate: "\(directory)/\(name).pem", key: "\(directory)/\(name).key")
    }

    /// Makes everything in a new temporary folder (about a second of openssl).
    public static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent(EmbeddedBroker.uniqueName("sluice-certs")).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.run(script)
        return certificates
    }

    private func run(_ script: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-euc", script]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestCertificatesError.opensslFailed(text) }
    }

    /// Two CAs; leaf certificates signed by `openssl ca`, which can back-date (for the expired one).
    private static let script = #"""
        ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" 2>/dev/null; }
        ca ca "Sluice Test CA"; ca other-ca "Untrusted Test CA"
        for c in ca other-ca; do mkdir -p "$c.db"; : > "$c.db/index.txt"; echo 1000 > "$c.db/serial"; done
        cat > ca.cnf <<'EOF'
        [ca]
        default_ca = test
        [test]
        dir = .
        new_certs_dir = .
        database = $ENV::CADB/index.txt
        serial = $ENV::CADB/serial
        default_md = sha256
        policy = anything
        copy_extensions = copy
        unique_subject = no
        [anything]
        commonName = supplied
        EOF
        leaf() { # name, CA, subjectAltName, extra openssl-ca options
          openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" -addext "subjectAltName=$3" 2>/dev/null
          CADB="$2.db" openssl ca -batch -config ca.cnf -cert "$2.pem" -keyfile "$2.key" -in "$1.csr" -out "$1.pem" -notext $4 2>/dev/null
        }
        leaf server ca "DNS:localhost,IP:127.0.0.1" "-days 2"
        leaf client ca "DNS:sluice-client" "-days 2"
        leaf expired ca "DNS:localhost,IP:127.0.0.1" "-startdate 20200101000000Z -enddate 20200201000000Z"
        leaf wronghost ca "DNS:wrong.example" "-days 2"
        leaf untrusted other-ca "DNS:localhost,IP:127.0.0.1" "-days 2"
        """#
}

public enum TestCertificatesError: Error, CustomStringConvertible {
    case opensslFailed(String)

    public var description: String {
        switch self {
        case .opensslFailed(let output): return "openssl could not make the test certificates:\n\(output)"
        }
    }
}
