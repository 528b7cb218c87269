import Foundation
import SluiceKafka
import SluiceTestKit
import Testing

/// One embedded broker shared by this test target (topics and transactional ids are unique per test).
enum TestBroker {
    static let shared: Result<EmbeddedBroker, any Error> = Result { try EmbeddedBroker.start() }

    static func get() throws -> EmbeddedBroker { try shared.get() }

    /// A fresh topic on the shared broker.
    static func topic(_ prefix: String, partitions: Int = 1) throws -> (EmbeddedBroker, String) {
        let broker = try get()
        let name = EmbeddedBroker.uniqueName(prefix)
        try broker.createTopic(name, partitions: partitions)
        return (broker, name)
    }
}

extension KafkaConfiguration {
    static func test(_ broker: EmbeddedBroker) -> KafkaConfiguration {
        var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
        configuration.socketTimeout = .milliseconds(10_000)
        return configuration
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    var description: String
}

/// Reads the partitions from the beginning until every one reported end-of-partition, with a bound.
func readAll(
    _ broker: EmbeddedBroker, topic: String, partitions: Int32, isolation: KafkaConfiguration.IsolationLevel,
    limit: Duration = .seconds(15)
) throws -> [KafkaRecord] {
    var configuration = KafkaConfiguration.test(broker)
    configuration.isolationLevel = isolation
    let consumer = try KafkaConsumer(configuration: configuration)
    defer { consumer.close() }
    let all = (0..<partitions).map { TopicPartition(topic, $0) }
    try consumer.assign(Dictionary(uniqueKeysWithValues: all.map { ($0, KafkaOffset.beginning) }))
    var records: [KafkaRecord] = []
    var ended = Set<TopicPartition>()
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ended.count < all.count {
        guard ContinuousClock.now < deadline else {
            throw TestTimeout(description: "read \(records.count) records; ended: \(ended)")
        }
        for event in try consumer.poll(timeout: .milliseconds(200)) {
            switch event {
            case .record(let record): records.append(record)
            case .endOfPartition(let tp, _): ended.insert(tp)
            case .error(let error), .offsetOutOfRange(_, offset: _, let error): Issue.record("consumer error: \(error)")
            }
        }
    }
    return records
}
