import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A program started by a test or a fault-injection run: its output lines are collected, and it can
/// be killed with SIGKILL at any moment (the point of the exercise).
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    private let process: Process
    private let lines = Mutex<[String]>([])
    private let partial = Mutex<String>("")
    /// Set when the output pipe reaches end of file: every byte the program wrote has been collected.
    private let outputEnded = Mutex<Bool>(false)
    private let logFile: FileHandle?

    /// Starts `executable` with `arguments`; `environment` entries are added to this process's
    /// environment. Standard output and error are merged; `logPath` also receives them, when given.
    public init(executable: String, arguments: [String], environment: [String: String] = [:], logPath: String? = nil) throws {
        self.executable = executable
        self.arguments = arguments
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        if let logPath {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            logFile = FileHandle(forWritingAtPath: logPath)
            _ = try? logFile?.seekToEnd()
        } else {
            logFile = nil
        }
        self.process = process
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            if data.isEmpty {
                handle.readabilityHandler = nil
                self.endOutput()
                return
            }
            self.logFile?.write(data)
            self.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
        TrackedProcesses.record(process.processIdentifier)
        let pid = process.processIdentifier
        process.terminationHandler = { _ in TrackedProcesses.forget(pid) }
    }

    private func append(_ text: String) {
        let complete: [String] = partial.withLock { buffer in
            buffer += text
            var parts = buffer.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            buffer = parts.removeLast()
            return parts
        }
        if !complete.isEmpty { lines.withLock { $0.append(contentsOf: complete) } }
    }

    /// A last line without a newline counts too, once nothing more can follow it.
    private func endOutput() {
        let last: String = partial.withLock { buffer in
            defer { buffer = "" }
            return buffer
        }
        if !last.isEmpty { lines.withLock { $0.append(last) } }
        outputEnded.withLock { $0 = true }
    }

    /// The reader runs on its own queue, so a process can have exited while what it wrote last is still
    /// in the pipe: a busy machine once showed a test an exited program with no output at all. Waits for
    /// end of file (bounded, since a child of the program may hold the pipe open).
    private func waitForOutputEnd(timeout: TimeInterval = 5) {
        let deadline = Date().addingTimeInterval(timeout)
        while !outputEnded.withLock({ $0 }) && Date() < deadline { usleep(5_000) }
    }

    public var processIdentifier: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Every complete output line so far.
    public var outputLines: [String] { lines.withLock { $0 } }

    /// Waits until an output line satisfies `predicate` and returns it, or nil after `timeout` or when
    /// the process has exited without printing one.
    public func waitForLine(timeout: TimeInterval, where predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = 0
        while Date() < deadline {
            let current = outputLines
            if let match = current[seen...].first(where: predicate) { return match }
            seen = current.count
            if !process.isRunning {
                waitForOutputEnd()
                return outputLines.first(where: predicate)
            }
            usleep(10_000)
        }
        return nil
    }

    /// SIGKILL: no handler runs, no buffer is flushed, no transaction is ended.
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends SIGTERM (graceful shutdown) and waits up to `timeout`; kills it if it is still running then.
    public func terminate(timeout: TimeInterval) {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        kill()
    }

    /// Waits for exit up to `timeout`; returns the exit status, or nil if it is still running.
    @discardableResult
    public func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return nil }
        waitForOutputEnd()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
