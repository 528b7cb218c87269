import Foundation
import SluiceKafka
import SluiceTestKit
import Testing

@Suite("Admin against the embedded broker")
struct AdminTests {
    @Test func createListDescribeDelete() throws {
        let broker = try TestBroker.get()
        let admin = try KafkaAdmin(configuration: .test(broker))
        defer { admin.close() }
        let name = EmbeddedBroker.uniqueName("admin")
        try admin.createTopic(name, partitions: 3, configs: ["retention.ms": "600000"])
        #expect(try admin.listTopics().contains(name))
        let description = try admin.describeTopic(name)
        #expect(description.partitions.map(\.id) == [0, 1, 2])
        #expect(description.partitions.allSatisfy { $0.leader >= 0 })

        do {
            try admin.createTopic(name, partitions: 1)
            Issue.record("creating an existing topic succeeded")
        } catch {
            #expect(error.kind == .topicAlreadyExists, "\(error)")
        }

        try admin.deleteTopics([name])
        #expect(try !admin.listTopics().contains(name))
        #expect { try admin.describeTopic(name) } throws: {
            ($0 as? KafkaError)?.kind == .unknownTopicOrPartition
        }
    }
}
