import Foundation

/// The librdkafka properties a command line gives once for every Kafka client and for Sluice's own
/// connections: a file of `key=value` lines (`#` comments, as librdkafka's and Kafka's tools read them)
/// and `-X key=value` pairs, which override the file.
public enum KafkaClientProperties {
    public static func load(file: String?, overrides: [String]) throws(KafkaClientPropertiesError) -> [String: String] {
        var properties: [String: String] = [:]
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw .unreadableFile(file)
            }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let (key, value) = try pair(trimmed, source: "\(file):\(index + 1)")
                properties[key] = value
            }
        }
        for entry in overrides {
            let (key, value) = try pair(entry, source: "-X \(entry)")
            properties[key] = value
        }
        return properties
    }

    private static func pair(_ text: String, source: String) throws(KafkaClientPropertiesError) -> (String, String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { throw .notKeyValue(source) }
        let key = text[..<equals].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        return (key, value)
    }
}

public enum KafkaClientPropertiesError: Error, Sendable, CustomStringConvertible {
    case unreadableFile(String)
    case notKeyValue(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path): return "Cannot read the client configuration file \(path)."
        case .notKeyValue(let source): return "\(source) is not a key=value librdkafka property."
        }
    }
}
