import Foundation

/// Keeps `POST /savepoints?dir=` and `POST /stop?dir=` inside the job's savepoint directory: a
/// request names a folder in it (relative, or absolute under it), never one elsewhere, whether by
/// `..` or by a symbolic link that leads out. Without a savepoint directory no `dir` is taken.
struct SavepointFolderConfinement: Sendable {
    /// The configured savepoint directory; nil: requests may not name a folder.
    let root: String?

    enum Refusal: Error, Equatable, CustomStringConvertible {
        case noRoot
        case parentReference(String)
        case outside(requested: String, root: String)

        var description: String {
            switch self {
            case .noRoot:
                return "This job has no savepoint directory, so a request may not name a folder: start it with --savepoint-dir or --checkpoint-dir, and leave out ?dir=."
            case .parentReference(let requested):
                return "The folder '\(requested)' contains '..' or a NUL byte: name a folder inside the job's savepoint directory."
            case .outside(let requested, let root):
                return "The folder '\(requested)' is outside the job's savepoint directory \(root): name a folder inside it (relative paths are taken from it)."
            }
        }
    }

    /// The folder to write to: nil (the job's default) when none is requested, else the requested
    /// folder with links resolved, inside the root.
    func resolve(_ requested: String?) throws(Refusal) -> String? {
        guard let requested, !requested.isEmpty else { return nil }
        guard let root else { throw .noRoot }
        let components = requested.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains(".."), !requested.contains("\0") else { throw .parentReference(requested) }
        let candidate = requested.hasPrefix("/") ? requested : root + "/" + requested
        let resolvedRoot = Self.resolvingExistingPart(root)
        let resolved = Self.resolvingExistingPart(candidate)
        guard resolved == resolvedRoot || resolved.hasPrefix(resolvedRoot == "/" ? "/" : resolvedRoot + "/") else {
            throw .outside(requested: requested, root: root)
        }
        return resolved
    }

    /// `realpath` of the longest part of `path` that exists, with the rest (which does not exist yet,
    /// so holds no links, and has no `..`) appended.
    static func resolvingExistingPart(_ path: String) -> String {
        var existing = path
        var missing: [Substring] = []
        while true {
            if let resolved = realpath(existing, nil) {
                defer { free(resolved) }
                let base = String(cString: resolved)
                let rest = missing.reversed().filter { $0 != "." }.joined(separator: "/")
                if rest.isEmpty { return base }
                return base == "/" ? "/" + rest : base + "/" + rest
            }
            let url = existing.split(separator: "/", omittingEmptySubsequences: true)
            guard let last = url.last else { return path }
            missing.append(last)
            let parent = url.dropLast().joined(separator: "/")
            existing = existing.hasPrefix("/") ? "/" + parent : (parent.isEmpty ? "." : parent)
        }
    }
}
