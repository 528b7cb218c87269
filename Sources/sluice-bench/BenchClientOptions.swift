import ArgumentParser
import SluiceKafka
import SluiceKafkaWire

/// The cluster's client settings (TLS, SASL and any other librdkafka property), the same options as
/// the `sluice` commands take: given once to `sluice-bench run`, used by its generator, watchers,
/// readers and topic creation, and passed on with -X to every contender it starts.
struct BenchClientOptions: ParsableArguments {
    @Option(help: "A file of librdkafka properties (key=value lines), e.g. security.protocol, ssl.ca.location, sasl.username.")
    var clientConfig: String?
    @Option(name: .customShort("X"), help: "A librdkafka property key=value (repeatable; overrides --client-config).")
    var properties: [String] = []

    /// The merged properties.
    func resolved() throws -> [String: String] {
        try KafkaClientProperties.load(file: clientConfig, overrides: properties)
    }

    /// Options for the bench's own wire connections; unsupported security settings are refused here, at start.
    func connectionOptions() throws -> KafkaConnectionOptions {
        KafkaConnectionOptions(security: try KafkaWireSecurity(properties: resolved()))
    }
}

/// `-X key=value` arguments that give a child contender the same client settings.
func clientArguments(_ properties: [String: String]) -> [String] {
    properties.sorted { $0.key < $1.key }.flatMap { ["-X", "\($0.key)=\($0.value)"] }
}
