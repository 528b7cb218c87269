import ArgumentParser
import SluiceKafkaWire

/// The cluster's client settings (TLS, SASL and any other librdkafka property) as the `sluice` and
/// `sluice-bench` commands take them: given once, used by every librdkafka client a command starts and
/// by Sluice's own wire connections, and passed on to the child processes it starts. Read as a
/// SluiceApp job reads its `--client-config` and `-X`, so a command and the job it starts agree.
public struct ClientConfigOptions: ParsableArguments {
    @Option(help: "A file of librdkafka properties (key=value lines), e.g. security.protocol, ssl.ca.location, sasl.username.")
    public var clientConfig: String?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable; overrides --client-config).")
    public var properties: [String] = []

    public init() {}

    /// The merged properties.
    public func resolved() throws -> [String: String] {
        try ClientSettings.merge(file: clientConfig, overrides: properties)
    }

    /// Options for Sluice's own connections; unsupported security settings are refused here, at start.
    package func connectionOptions() throws -> KafkaConnectionOptions {
        KafkaConnectionOptions(security: try KafkaWireSecurity(properties: resolved()))
    }

    /// The same settings as arguments for a child job (SluiceApp jobs take the same options).
    public var childArguments: [String] {
        (clientConfig.map { ["--client-config", $0] } ?? []) + properties.flatMap { ["-X", $0] }
    }

    /// `-X key=value` arguments that give a child process the settings `properties`.
    public static func arguments(for properties: [String: String]) -> [String] {
        properties.sorted { $0.key < $1.key }.flatMap { ["-X", "\($0.key)=\($0.value)"] }
    }
}
