import Foundation
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// Bad security settings, one test per case: Sluice's wire client fails within seconds with an error
/// naming the cause, and so does the click-count job (exit status non-zero, the cause in its output,
/// no restart loop), before it reads or writes anything.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SecuredKafkaBadConfigTests {
    @Test func wrongPassword() throws {
        try expectRefusal(front: .sasl(["SCRAM-SHA-512"]), properties: sasl("SCRAM-SHA-512", password: "wrong"),
                          saying: "authentication of user 'alice' failed")
    }

    @Test func unknownUser() throws {
        try expectRefusal(front: .sasl(["SCRAM-SHA-512"]), properties: sasl("SCRAM-SHA-512", user: "mallory"),
                          saying: "authentication of user 'mallory' failed")
    }

    @Test func mechanismTheBrokerDoesNotOffer() throws {
        try expectRefusal(front: .sasl(["SCRAM-SHA-512"]), properties: sasl("SCRAM-SHA-256"),
                          saying: "does not offer SASL mechanism SCRAM-SHA-256 (it offers SCRAM-SHA-512)")
    }

    @Test func untrustedCertificate() throws {
        try expectRefusal(front: .tls(\.untrustedServer), properties: try ssl(), saying: "certificate is not trusted")
    }

    @Test func expiredCertificate() throws {
        try expectRefusal(front: .tls(\.expiredServer), properties: try ssl(), saying: "certificate expired on 2020-02-01")
    }

    @Test func hostnameMismatch() throws {
        try expectRefusal(front: .tls(\.wrongHostServer), properties: try ssl(), saying: "hostname mismatch")
    }

    @Test func tlsToAPlaintextPort() throws {
        try expectRefusal(front: .none, properties: try ssl(), saying: "is it a plaintext listener?")
    }

    @Test func plaintextToATlsPort() throws {
        try expectRefusal(front: .tls(\.server), properties: ["security.protocol": "PLAINTEXT"],
                          saying: "is it a TLS listener?")
    }
}

private enum Front {
    case none
    case sasl([String])
    case tls(KeyPath<TestCertificates, TestCertificates.Pair>)
}

private func sasl(_ mechanism: String, user: String = SecuredSetup.user,
                  password: String = SecuredSetup.password) -> [String: String] {
    ["security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password]
}

private func ssl() throws -> [String: String] {
    ["security.protocol": "SSL", "ssl.ca.location": try SecuredSetup.certificates.get().caFile]
}

/// Starts a broker with `front` before it, then checks that the wire client and the click-count job
/// both refuse `properties` quickly with an error containing `phrase`.
private func expectRefusal(front: Front, properties: [String: String], saying phrase: String) throws {
    let broker = try EmbeddedBroker.start()
    defer { broker.stop() }
    let certificates = try SecuredSetup.certificates.get()
    var port = broker.port
    var started: SecurityFront?
    switch front {
    case .none:
        break
    case .sasl(let mechanisms):
        port = try freeLoopbackPort()
        started = try .sasl(port: port, target: broker.port, mechanisms: mechanisms,
                            users: [SecuredSetup.user: SecuredSetup.password])
    case .tls(let pair):
        port = try freeLoopbackPort()
        started = try .tls(port: port, target: broker.port, server: certificates[keyPath: pair])
    }
    defer { started?.stop() }
    let bootstrap = "localhost:\(port)"

    let wire = measureFailure {
        let client = try KafkaWireClient(bootstrap: bootstrap, options: try wireOptions(properties, connectTimeout: 3),
                                         retry: RetryPolicy(attempts: 1))
        defer { client.close() }
        _ = try client.findTransactionCoordinatorOnce("any")
    }
    let message = wire.error.map { "\($0)" } ?? "no error"
    print("wire client, \(phrase): \(message) (after \(String(format: "%.2f", wire.seconds)) s)")
    #expect(message.contains(phrase), "\(message)")
    #expect(wire.seconds < 5)

    let jobStart = Date()
    let job = try ChildProcess(
        executable: try BuiltProducts.path(of: "click-count-job"),
        arguments: ["--bootstrap", bootstrap, "--input-topic", "in", "--output-topic", "out", "--checkpointing",
                    "--transactional-id-prefix", EmbeddedBroker.uniqueName("bad-config"),
                    "--checkpoint-dir", FileManager.default.temporaryDirectory.appendingPathComponent(
                        EmbeddedBroker.uniqueName("bad-config")).path]
            + clientArguments(properties))
    let status = job.waitForExit(timeout: 20)
    if status == nil { job.kill() }
    let output = job.outputLines.joined(separator: "\n")
    print("click-count-job, \(phrase): exit \(status.map(String.init) ?? "none") after "
        + "\(String(format: "%.2f", Date().timeIntervalSince(jobStart))) s: \(job.outputLines.last ?? "")")
    #expect(status != nil && status != 0, "the job did not fail: \(output.suffix(500))")
    #expect(output.contains(phrase), "\(output.suffix(800))")
    #expect(!output.contains("Restoring job") && !output.contains("restart"), "\(output.suffix(800))")
}
