import Foundation
import SluiceTestKit
import Testing

/// `sluice run --job EXE [job options]`: options sluice run does not know go to the job as given, in
/// order, wherever they stand; `--` still passes what follows unchanged (a job option that shares a
/// name with one of sluice run's); $SLUICE_JOB_OPTIONS comes before them. Checked on the command line
/// sluice run would exec (`--dry-run`), so no broker is needed.
@Suite struct RunJobOptionsTests {
    func dryRun(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32?, lines: [String]) {
        let run = try ChildProcess(
            executable: try BuiltProducts.path(of: "sluice"),
            arguments: ["run", "--bootstrap", "127.0.0.1:9", "--checkpoint-dir", "/tmp/sluice-run-options", "--dry-run"] + arguments,
            environment: environment)
        let status = run.waitForExit(timeout: 30)
        if status == nil { run.kill() }
        return (status, run.outputLines)
    }

    @Test func unknownOptionsAfterTheJobGoToIt() throws {
        let (status, lines) = try dryRun(
            ["--job", "/bin/true", "--payment-timeout", "30s", "-X", "security.protocol=SSL", "-p", "3", "--verbose",
             "--", "--parallelism", "9"],
            environment: ["SLUICE_JOB_OPTIONS": "--from-env yes"])
        #expect(status == 0, "\(lines)")
        let command = try #require(lines.last)
        #expect(command.hasPrefix("/bin/true --bootstrap 127.0.0.1:9 --parallelism 3 --checkpoint-dir /tmp/sluice-run-options "), "\(command)")
        #expect(command.hasSuffix(" --from-env yes --payment-timeout 30s -X security.protocol=SSL --verbose --parallelism 9"), "\(command)")
    }

    @Test func theTerminatorAloneStillWorks() throws {
        let (status, lines) = try dryRun(["--job", "/bin/true", "--", "--payment-timeout", "30s"])
        #expect(status == 0, "\(lines)")
        #expect(lines.last?.hasSuffix("--checkpoint-dir /tmp/sluice-run-options --payment-timeout 30s") == true, "\(lines)")
    }
}
