import Foundation

/// Children a test run started, recorded as files in `$SLUICE_TEST_PID_DIR` (one per pid, holding
/// the process's start time) so that scripts/test.sh can end exactly those after a crashed run,
/// and nothing else on the machine: not a second run, not a user's own broker or job.
public enum TrackedProcesses {
    static var directory: String? {
        ProcessInfo.processInfo.environment["SLUICE_TEST_PID_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Records `pid`; a no-op outside a tracked run.
    public static func record(_ pid: Int32) {
        guard let directory else { return }
        record(pid, in: directory)
    }

    public static func record(_ pid: Int32, in directory: String) {
        guard let started = startTime(of: pid) else { return }
        try? started.write(toFile: directory + "/\(pid)", atomically: true, encoding: .utf8)
    }

    /// Forgets `pid` once it has been reaped.
    public static func forget(_ pid: Int32) {
        guard let directory else { return }
        try? FileManager.default.removeItem(atPath: directory + "/\(pid)")
    }

    /// Field 22 of /proc/PID/stat: with the pid it names one process, even after the pid is reused.
    public static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // The fields after the command name start at field 3 (the state).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}
