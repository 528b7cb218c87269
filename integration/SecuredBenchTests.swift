import Foundation
import SluiceTestKit
import Testing

/// `sluice-bench run` against a SASL_SSL cluster (stunnel4 + the test's SCRAM front, named by
/// KAFKA_BOOTSTRAP as an external broker): its generator, watchers, topic creation and the
/// transaction-aware check take the cluster's settings from -X, and pass them on to each contender.
/// Without -X nothing gets through, so the run fails.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct SecuredBenchTests {
    @Test func benchTakesClientSettingsOverSaslSsl() throws {
        let setup = SecuredSetup.saslSslScram512
        let secured = try setup.start()
        defer { secured.stop() }
        let bench = try BuiltProducts.path(of: "sluice-bench")
        let binDir = URL(fileURLWithPath: bench).deletingLastPathComponent().path
        let arguments = ["run", "--quick", "--skip-quix", "--only", "raw", "--only", "sluice-eos", "--events", "7000",
                         "--latency-seconds", "1", "--bin-dir", binDir]
        let process = try ChildProcess(
            executable: bench, arguments: arguments + clientArguments(try setup.properties),
            environment: ["KAFKA_BOOTSTRAP": secured.bootstrap])
        let status = process.waitForExit(timeout: 180)
        if status == nil { process.kill() }
        let output = process.outputLines
        #expect(status == 0, "sluice-bench failed:\n\(output.suffix(30).joined(separator: "\n"))")
        for contender in ["raw", "sluice-eos"] {
            let line = output.first { $0.hasPrefix("RESULT \(contender) ") }
            #expect(line?.contains("verdict=\"exact") == true, "\(contender): \(line ?? "no RESULT line")")
        }
    }
}
