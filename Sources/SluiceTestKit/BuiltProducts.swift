import Foundation

/// Where the package's built executables are: next to the running test bundle or executable, in
/// SwiftPM's build folder. `SLUICE_BIN_DIR` overrides.
public enum BuiltProducts {
    public static func path(of executable: String) throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["SLUICE_BIN_DIR"] {
            candidates.append(explicit + "/" + executable)
        }
        // The running binary's folder: the test bundle and the executables share it.
        let running = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var folder = running.deletingLastPathComponent()
        for _ in 0..<3 {
            candidates.append(folder.appendingPathComponent(executable).path)
            folder = folder.deletingLastPathComponent()
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw BuiltProductsError.notBuilt(executable: executable, searched: candidates)
    }
}

public enum BuiltProductsError: Error, CustomStringConvertible {
    case notBuilt(executable: String, searched: [String])
    public var description: String {
        switch self {
        case .notBuilt(let executable, let searched):
            return "The executable '\(executable)' was not found (looked in \(searched.joined(separator: ", "))). "
                + "Build it first: swift build --product \(executable) (scripts/test.sh builds everything)."
        }
    }
}
