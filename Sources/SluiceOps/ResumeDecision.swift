import Foundation

/// Whether a job started with "resume from savepoint S" should really use S. A process that is
/// restarted with the same command line (a container's restart policy, a supervisor) would
/// otherwise go back to S every time and redo — and commit again — everything since. Like Flink's
/// JobManager, which resumes from a savepoint once and then fails over to newer checkpoints, the
/// first resume leaves a note in the checkpoint folder; a later start with the same savepoint
/// uses the checkpoint folder instead when a valid checkpoint completed after that note.
public enum ResumeDecision: Equatable, Sendable {
    /// Resume from the savepoint (the note is written).
    case savepoint(String)
    /// The savepoint was resumed from before and checkpoint `id` completed since: restore that.
    case newerCheckpoint(id: Int64, savepoint: String)

    /// The note's name in the checkpoint folder.
    public static let noteName = "_resumed-from-savepoint"

    /// Decides, and writes the note when the savepoint is used. `force` always uses the savepoint.
    public static func decide(savepoint: String, checkpointDirectory: String, force: Bool, nowMillis: Int64) throws -> ResumeDecision {
        let savepointPath = canonical(savepoint)
        let notePath = checkpointDirectory + "/" + noteName
        if !force, let note = try? String(contentsOfFile: notePath, encoding: .utf8) {
            let fields = note.split(separator: "\n", omittingEmptySubsequences: false)
            if fields.count >= 2, String(fields[0]) == savepointPath, let resumedAt = Int64(fields[1]) {
                let newer = ((try? SnapshotCatalog.list(checkpointDirectory)) ?? [])
                    .filter { $0.kind == .checkpoint && $0.isValid && ($0.timeMillis ?? 0) > resumedAt }
                if let newest = newer.max(by: { ($0.id ?? 0) < ($1.id ?? 0) }), let id = newest.id {
                    return .newerCheckpoint(id: id, savepoint: savepointPath)
                }
            }
        }
        try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
        try Data("\(savepointPath)\n\(nowMillis)\n".utf8).write(to: URL(fileURLWithPath: notePath), options: .atomic)
        return .savepoint(savepoint)
    }

    /// The snapshot folder, without a trailing `/` or `/_metadata`, made absolute.
    static func canonical(_ path: String) -> String {
        var folder = path
        while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
        if (folder as NSString).lastPathComponent == "_metadata" { folder = (folder as NSString).deletingLastPathComponent }
        return URL(fileURLWithPath: folder).standardizedFileURL.path
    }
}
