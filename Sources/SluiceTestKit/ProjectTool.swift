import Foundation

/// The command-line tools scripts/setup.sh installs under the package's `.tools/` (the validators of
/// the deployment files, for example), run to completion by the tests that check with them.
public enum ProjectTool {
    /// Runs `.tools/<path>` with `arguments`, in `directory` when given, and returns its exit status and
    /// its standard output and error together.
    public static func run(_ path: String, _ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
        let tool = SecurityFront.packageRoot() + "/.tools/" + path
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw ProjectToolError.notInstalled(name: (tool as NSString).lastPathComponent, path: tool)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read before waiting: a tool whose output fills the pipe would otherwise never exit.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

public enum ProjectToolError: Error, CustomStringConvertible {
    case notInstalled(name: String, path: String)

    public var description: String {
        switch self {
        case .notInstalled(let name, let path): return "\(name) is not installed at \(path): run scripts/setup.sh"
        }
    }
}
