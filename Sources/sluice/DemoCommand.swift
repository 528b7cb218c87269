import ArgumentParser
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Runs the click-count playground end to end (see the README).")

    @Option(help: "Folder holding click-generator and click-count-job.") var binDir: String?

    func run() throws {
        print("demo: not yet")
    }
}
