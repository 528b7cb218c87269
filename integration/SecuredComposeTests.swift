import Foundation
import Testing

/// docker-compose.sasl-ssl.yml, checked with docker-compose's own parser like docker-compose.yml: a job
/// against Apache Kafka with SASL_SSL, one client configuration for every client.
@Suite struct SecuredComposeTests {
    @Test func theSaslSslComposeFileIsValidAndSecuresEveryClient() throws {
        let (status, output) = try DockerComposeTests().compose(
            ["-f", DockerComposeTests.root + "/docker-compose.sasl-ssl.yml", "config"])
        #expect(status == 0, "docker-compose config failed:\n\(output)")
        for service in ["certs:", "kafka:", "users:", "generator:", "job:", "client:"] {
            #expect(output.contains("  \(service)"), "no service \(service)")
        }
        #expect(output.contains("CLIENTS:SASL_SSL"), "the clients' listener must be SASL_SSL")
        #expect(output.contains("KAFKA_SASL_ENABLED_MECHANISMS: SCRAM-SHA-512"))
        #expect(output.contains("subjectAltName=DNS:kafka"), "the broker's certificate must name the host clients use")
        #expect(output.contains("security.protocol=SASL_SSL"), "the client configuration")
        // The generator and the job (hence its recovery connections) get the same client configuration.
        #expect(output.components(separatedBy: "/certs/client.properties").count - 1 >= 3)
        #expect(output.contains("SCRAM-SHA-512=[iterations=8192,password=sluice-secret]"), "the SCRAM user is registered")
    }
}
