import ArgumentParser
import Foundation

/// librdkafka settings from a configuration file of `key=value` lines (`#` comments and blank
/// lines skipped, as librdkafka's own tools read them) and `-X key=value` options, which win.
enum ClientSettings {
    static func merge(file: String?, overrides: [String]) throws -> [String: String] {
        var settings: [String: String] = [:]
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ValidationError(JobSettingsError.unreadableClientConfig(path: file, reason: error.localizedDescription).description)
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let (key, value) = try pair(trimmed, origin: "\(file):\(number + 1)")
                settings[key] = value
            }
        }
        for text in overrides {
            let (key, value) = try pair(text, origin: "-X")
            settings[key] = value
        }
        return settings
    }

    private static func pair(_ text: String, origin: String) throws -> (String, String) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ValidationError(JobSettingsError.malformedClientSetting(text, origin: origin).description)
        }
        let key = text[..<equals].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else { throw ValidationError(JobSettingsError.malformedClientSetting(text, origin: origin).description) }
        return (key, text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces))
    }
}
