import Foundation
import SluiceTestKit
import Testing

/// The job's web page in a real browser: headless Chromium driven by Selenium
/// (integration/browser/dashboard_check.py) against the click-count job on the embedded broker.
/// The script checks the page; this test owns the job and kills and restarts it when asked.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardBrowserTests {
    /// The repository, found from this file (tests run from a checkout).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    @Test func thePageShowsTheGraphCheckpointsARestartAndTakesASavepoint() throws {
        let python = Self.root + "/.tools/browser-venv/bin/python"
        for tool in [python, "/usr/bin/chromium", "/usr/bin/chromedriver"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool),
                         "\(tool) is missing: run scripts/setup.sh (it installs chromium, chromium-driver and selenium)")
        }
        let scenario = try ClickCountScenario("dashboard")
        defer { scenario.tearDown() }
        try scenario.generate(windows: 40, rate: 3000, wait: false)
        var job = try scenario.startJob(extraArguments: ["--status-port", "0"])
        let statusURL = try scenario.statusURL(of: job)
        let page = String(statusURL.dropLast("status".count))
        let port = try #require(URL(string: statusURL)?.port)
        let handshake = scenario.logDirectory + "/browser"
        try FileManager.default.createDirectory(atPath: handshake, withIntermediateDirectories: true)
        // SLUICE_DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes the README's picture.
        let screenshot = ProcessInfo.processInfo.environment["SLUICE_DASHBOARD_SCREENSHOT"] ?? scenario.logDirectory + "/dashboard.png"

        let browser = try ChildProcess(
            executable: python,
            arguments: [Self.root + "/integration/browser/dashboard_check.py", "--url", page,
                        "--checkpoint-dir", scenario.checkpointDirectory, "--sluice", try BuiltProducts.path(of: "sluice"),
                        "--handshake", handshake, "--screenshot", screenshot, "--timeout", "100"],
            environment: ["SE_OFFLINE": "true"],  // Selenium must not look for drivers online
            logPath: scenario.logDirectory + "/browser.log")
        defer { browser.terminate(timeout: 10) }

        let deadline = Date().addingTimeInterval(100)
        while browser.isRunning && !FileManager.default.fileExists(atPath: handshake + "/kill") && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        if FileManager.default.fileExists(atPath: handshake + "/kill") {
            job.kill()
            job = try scenario.startJob(extraArguments: ["--status-port", String(port)])
            _ = try scenario.statusURL(of: job)
            _ = FileManager.default.createFile(atPath: handshake + "/restarted", contents: nil)
        }
        let status = browser.waitForExit(timeout: max(1, deadline.timeIntervalSinceNow) + 10)
        #expect(status == 0, "the browser check failed (logs in \(scenario.logDirectory)):\n\(browser.outputLines.suffix(25).joined(separator: "\n"))")
        #expect(scenario.jobLog(2).contains("Restoring job"), "the restarted job restored no checkpoint")
        job.terminate(timeout: 10)
    }
}
