import Foundation

/// Secured entrances to the embedded broker, for tests: Debian's stunnel4 terminating TLS, and the
/// project's SASL front (`scripts/testing/sasl-front.py`, SCRAM by PyPI's scramp), each a real process
/// in front of the real broker. Tansu cannot terminate TLS or keep SASL users itself (see kafka-facts).
public final class SecurityFront: Sendable {
    public let port: Int
    private let child: ChildProcess

    private init(port: Int, child: ChildProcess) {
        self.port = port
        self.child = child
    }

    deinit { child.kill() }

    public func stop() { child.kill() }

    /// stunnel4 accepting TLS on `port` and forwarding plaintext to `target`; with `clientCAFile` it requires
    /// a client certificate signed by that CA (mutual TLS, `verify = 2`).
    public static func tls(port: Int, target: Int, server: TestCertificates.Pair,
                           clientCAFile: String? = nil) throws -> SecurityFront {
        let config = FileManager.default.temporaryDirectory
            .appendingPathComponent(EmbeddedBroker.uniqueName("stunnel") + ".conf").path
        var lines = ["foreground = yes", "pid =", "debug = 4", "[kafka]", "accept = 127.0.0.1:\(port)",
                     "connect = 127.0.0.1:\(target)", "cert = \(server.certificate)", "key = \(server.key)"]
        if let clientCAFile { lines += ["CAfile = \(clientCAFile)", "verify = 2"] }
        try lines.joined(separator: "\n").appending("\n").write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess(executable: try locate("stunnel4", in: ["/usr/bin", "/usr/local/bin"]),
                                     arguments: [config])
        return try ready(SecurityFront(port: port, child: child), what: "stunnel4")
    }

    /// The SASL front on `port`, offering `mechanisms` to `users` (name → password), forwarding to `target`.
    public static func sasl(port: Int, target: Int, mechanisms: [String] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
                            users: [String: String]) throws -> SecurityFront {
        let root = packageRoot()
        let python = root + "/.tools/sasl-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw SecurityFrontError.missing(python) }
        let arguments = [root + "/scripts/testing/sasl-front.py", "--listen", "\(port)", "--broker", "127.0.0.1:\(target)",
                         "--mechanisms", mechanisms.joined(separator: ",")]
            + users.sorted(by: { $0.key < $1.key }).flatMap { ["--user", "\($0.key):\($0.value)"] }
        let child = try ChildProcess(executable: python, arguments: arguments)
        return try ready(SecurityFront(port: port, child: child), what: "the SASL front")
    }

    private static func ready(_ front: SecurityFront, what: String) throws -> SecurityFront {
        guard waitUntilAccepting(port: front.port, timeout: 10) else {
            front.stop()
            throw SecurityFrontError.didNotStart(what: what, output: front.child.outputLines.joined(separator: "\n"))
        }
        return front
    }

    static func locate(_ name: String, in folders: [String]) throws -> String {
        for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
            return "\(folder)/\(name)"
        }
        throw SecurityFrontError.missing(name)
    }

    /// The package root: this file is Sources/SluiceTestKit/SecurityFronts.swift.
    static func packageRoot() -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}

public enum SecurityFrontError: Error, CustomStringConvertible {
    case missing(String)
    case didNotStart(what: String, output: String)

    public var description: String {
        switch self {
        case .missing(let what): return "\(what) is missing: run scripts/setup.sh (it installs stunnel4 and the SASL front's venv)."
        case .didNotStart(let what, let output): return "\(what) did not start:\n\(output)"
        }
    }
}

/// The embedded broker behind a chain of fronts, advertising the outermost port on `localhost`
/// (the name the server certificate carries): SSL, SASL_PLAINTEXT or SASL_SSL.
public final class SecuredBroker: Sendable {
    public let broker: EmbeddedBroker
    /// The outermost front's port; clients bootstrap at `localhost:port`.
    public let port: Int
    public let fronts: [SecurityFront]
    public var bootstrap: String { "localhost:\(port)" }

    public enum Layout: Sendable {
        /// TLS only; `mutual` requires client certificates.
        case ssl(mutual: Bool)
        /// SASL over plaintext.
        case saslPlaintext(mechanisms: [String])
        /// TLS in front of SASL.
        case saslSsl(mechanisms: [String])
    }

    /// Starts broker and fronts; `users` are the SASL users (name → password).
    public static func start(_ layout: Layout, certificates: TestCertificates,
                             users: [String: String] = [:]) throws -> SecuredBroker {
        let outer = try freeLoopbackPort()
        let broker = try EmbeddedBroker.start(advertised: "localhost:\(outer)")
        do {
            var fronts: [SecurityFront] = []
            switch layout {
            case .ssl(let mutual):
                fronts.append(try .tls(port: outer, target: broker.port, server: certificates.server,
                                       clientCAFile: mutual ? certificates.caFile : nil))
            case .saslPlaintext(let mechanisms):
                fronts.append(try .sasl(port: outer, target: broker.port, mechanisms: mechanisms, users: users))
            case .saslSsl(let mechanisms):
                let inner = try freeLoopbackPort()
                fronts.append(try .sasl(port: inner, target: broker.port, mechanisms: mechanisms, users: users))
                fronts.append(try .tls(port: outer, target: inner, server: certificates.server))
            }
            return SecuredBroker(broker: broker, port: outer, fronts: fronts)
        } catch {
            broker.stop()
            throw error
        }
    }

    private init(broker: EmbeddedBroker, port: Int, fronts: [SecurityFront]) {
        self.broker = broker
        self.port = port
        self.fronts = fronts
    }

    public func stop() {
        for front in fronts { front.stop() }
        broker.stop()
    }
}
