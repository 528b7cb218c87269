import Foundation
import SluiceTestKit
import Testing

/// The README's first command, `sluice demo`, small: the live table shows windows and the job's
/// checkpoint progress from /status, the job is killed and restarted, and the verdict is EXACT.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DemoCommandTests {
    @Test func theDemoShowsWindowsAndCheckpointsAndEndsExact() throws {
        let sluice = try BuiltProducts.path(of: "sluice")
        let binDir = URL(fileURLWithPath: sluice).deletingLastPathComponent().path
        let demo = try ChildProcess(executable: sluice, arguments: ["demo", "--windows", "3", "--bin-dir", binDir, "--timeout", "120"])
        let status = demo.waitForExit(timeout: 150)
        if status == nil { demo.kill() }
        let output = demo.outputLines
        #expect(status == 0, "the demo failed:\n\(output.suffix(20).joined(separator: "\n"))")
        #expect(output.contains { $0.hasPrefix("window start") && $0.contains("/help") }, "no window table")
        #expect(output.contains { $0.hasPrefix("01-01-1970 12:00:00:000") && $0.contains("1000") }, "no counted window")
        #expect(output.contains { $0.hasPrefix("job running, checkpoint ") && $0.contains(" ms, ") }, "no checkpoint progress")
        #expect(output.contains { $0.contains("Killing the job with SIGKILL") })
        // The web page's address is under the table, and the restarted job keeps it.
        let kill = output.firstIndex { $0.contains("Killing the job with SIGKILL") } ?? output.endIndex
        let pages = output.filter { $0.hasPrefix("web view: http://127.0.0.1:") }
        #expect(Set(pages).count == 1 && output[kill...].contains { $0.hasPrefix("web view: ") }, "page addresses: \(Set(pages))")
        #expect(output.contains { $0.hasPrefix("[demo] EXACT: 3 windows") }, "\(output.suffix(5))")
    }
}
