import Foundation
import Testing

/// The image runs as a dedicated user owning the checkpoint volume, and every Python package the
/// scripts install is pinned by version and SHA-256 (no Docker engine runs here: the files are read).
@Suite struct SupplyChainAndPrivilegeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    func read(_ path: String) throws -> String { try String(contentsOfFile: Self.root + "/" + path, encoding: .utf8) }

    @Test func theImageRunsAsADedicatedUserOwningTheCheckpoints() throws {
        let dockerfile = try read("Dockerfile")
        let finalStage = try #require(dockerfile.components(separatedBy: "\nFROM ").last)
        let users = finalStage.split(separator: "\n").filter { $0.hasPrefix("USER ") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }
        let user = try #require(users.last, "the final stage sets no USER: it runs as root")
        let name = String(user.split(separator: ":").first ?? "")
        #expect(!["root", "0", ""].contains(name), "the image runs as \(user)")
        #expect(finalStage.contains("useradd") && finalStage.contains(" \(name)"), "the user \(name) is not created")
        #expect(finalStage.contains("chown \(name):"), "the checkpoint folder is not owned by \(name)")
        #expect(finalStage.contains("/checkpoints"))
        // The image's user must come after everything that needs root (apt-get, chown).
        let userLine = try #require(finalStage.range(of: "\nUSER "))
        #expect(!finalStage[userLine.upperBound...].contains("apt-get"))
    }

    @Test func everyPipInstallIsPinnedByHash() throws {
        let scripts = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/scripts").filter { $0.hasSuffix(".sh") }
        var requirementFiles = Set<String>()
        for script in scripts {
            let lines = try read("scripts/" + script).split(separator: "\n")
            for line in lines where line.contains("pip\" install") || line.contains("pip install") || line.contains("-m pip install") {
                guard !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") else { continue }
                #expect(line.contains("--require-hashes"), "scripts/\(script) installs without hashes: \(line)")
                if let range = line.range(of: "scripts/requirements/") {
                    let file = line[range.lowerBound...].prefix { $0 != "\"" && $0 != " " }
                    requirementFiles.insert(String(file))
                }
            }
        }
        // setup.sh installs through hashed_venv (pip install --require-hashes -r "$file", checked above),
        // naming its lists as "$REQUIREMENTS/<name>.txt".
        for script in scripts {
            for piece in try read("scripts/" + script).components(separatedBy: "\"$REQUIREMENTS/").dropFirst() {
                requirementFiles.insert("scripts/requirements/" + piece.prefix { $0 != "\"" })
            }
        }
        #expect(requirementFiles.contains("scripts/requirements/kubernetes-validate.txt"), "found \(requirementFiles)")
        #expect(requirementFiles.count >= 3, "found \(requirementFiles)")
        for file in requirementFiles {
            let entries = try read(file).components(separatedBy: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
                .joined(separator: "\n").replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n")
            #expect(!entries.isEmpty, "\(file) is empty")
            for entry in entries {
                #expect(entry.contains("=="), "\(file): not pinned by version: \(entry)")
                let hash = entry.range(of: "--hash=sha256:").map { entry[$0.upperBound...].prefix(64) } ?? ""
                #expect(hash.count == 64 && hash.allSatisfy(\.isHexDigit), "\(file): no SHA-256: \(entry)")
            }
        }
        // The embedded broker's binary stays checked by SHA-256.
        let setup = try read("scripts/setup.sh")
        #expect(setup.contains("TANSU_SHA256=\"") && setup.contains("tansu checksum mismatch"))
    }
}
