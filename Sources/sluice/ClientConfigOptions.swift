import ArgumentParser
import SluiceKafka
import SluiceKafkaWire

/// The cluster's client settings (TLS, SASL and any other librdkafka property), given once and used by
/// every librdkafka client a command starts and by Sluice's own wire connections.
struct ClientConfigOptions: ParsableArguments {
    @Option(help: "A file of librdkafka properties (key=value lines), e.g. security.protocol, ssl.ca.location, sasl.username.")
    var clientConfig: String?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable; overrides --client-config).")
    var properties: [String] = []

    /// The merged properties.
    func resolved() throws -> [String: String] {
        try KafkaClientProperties.load(file: clientConfig, overrides: properties)
    }

    /// Options for Sluice's own connections; unsupported security settings are refused here, at start.
    func connectionOptions() throws -> KafkaConnectionOptions {
        KafkaConnectionOptions(security: try KafkaWireSecurity(properties: resolved()))
    }

    /// The same settings as arguments for a child job (click-count-job takes the same options).
    var childArguments: [String] {
        (clientConfig.map { ["--client-config", $0] } ?? []) + properties.flatMap { ["-X", $0] }
    }
}
