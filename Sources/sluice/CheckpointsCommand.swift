import ArgumentParser
import Foundation
import SluiceOps
import SluiceRuntime

/// `sluice checkpoints DIR...`: what a job could restart or resume from.
struct CheckpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "Lists the checkpoints and savepoints in a job's folders, with id, kind, size, time and validity.",
        discussion: """
            Give the job's --checkpoint-dir (its savepoints/ subfolder is included, and so are the worker-<i> \
            subfolders of a job run as several --workers, whose WORKER column says which wrote it), a savepoint folder, or \
            several. "valid" means the runtime would restore it: its _metadata is complete, its checksum and \
            version are right, and its state files are there. Resume from one with \
            `sluice run --from-savepoint PATH -p N` (checkpoints work there too).
            """)

    @Argument(help: "Checkpoint or savepoint folders.") var directories: [String]

    func validate() throws {
        guard !directories.isEmpty else { throw ValidationError("Give a folder: the job's --checkpoint-dir.") }
    }

    func run() throws {
        var entries: [SnapshotEntry] = []
        for directory in directories { entries += try SnapshotCatalog.list(directory) }
        guard !entries.isEmpty else {
            print("No checkpoints or savepoints in \(directories.joined(separator: ", ")).")
            return
        }
        print(Self.table(entries))
    }

    static func table(_ entries: [SnapshotEntry]) -> String {
        let formatter = ISO8601DateFormatter()
        var rows = [["ID", "KIND", "SIZE", "TIME (UTC)", "P", "WORKER", "STATE", "PATH"]]
        for entry in entries {
            rows.append([
                entry.id.map(String.init) ?? "?",
                entry.kind.rawValue,
                byteCount(entry.bytesOnDisk),
                entry.timeMillis.map { formatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "?",
                entry.parallelism.map(String.init) ?? "-",
                entry.worker.map { $0.workers == 1 ? "-" : "\($0.index) of \($0.workers)" } ?? "?",
                entry.problem.map { "INVALID: \($0)" } ?? "valid",
                entry.path,
            ])
        }
        // Pad every column but the last two (state and path can be long).
        let padded = rows[0].count - 2
        let widths = (0..<padded).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index < padded ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) : cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func byteCount(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / 1024 / 1024)
    }
}
