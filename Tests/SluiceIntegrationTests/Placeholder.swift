import Testing
import SluiceTestKit

@Test func embeddedBrokerStartsAndCreatesTopics() throws {
    let broker = try EmbeddedBroker.start()
    defer { broker.stop() }
    try broker.createTopic(EmbeddedBroker.uniqueName("smoke"), partitions: 2, configs: ["retention.ms": "-1"])
    #expect(broker.port > 0)
}
