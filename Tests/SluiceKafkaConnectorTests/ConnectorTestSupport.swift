import Foundation
import Logging
import SluiceKafka
import SluiceKafkaConnector
import SluiceKafkaWire
import SluiceRuntime
import SluiceTestKit
import Testing

/// One embedded broker shared by this test target; every test uses its own topics, group and
/// transactional-id prefix, so tests never see each other's data.
enum ConnectorBroker {
    static let shared: Result<EmbeddedBroker, any Error> = Result { try EmbeddedBroker.start() }

    static func get() throws -> EmbeddedBroker { try shared.get() }

    /// The shared broker's address; starting it blocks, so it happens on a thread of its own.
    static func address() async throws -> String {
        try await onOwnThread { try get().bootstrap }
    }

    /// `topic(_:partitions:)` on a thread of its own (it runs the broker's topic tool).
    static func newTopic(_ prefix: String, partitions: Int) async throws -> String {
        try await onOwnThread { try topic(prefix, partitions: partitions) }
    }

    /// A fresh topic that keeps its records (the embedded broker only reports configs set at creation).
    static func topic(_ prefix: String, partitions: Int) throws -> String {
        let name = EmbeddedBroker.uniqueName(prefix)
        try get().createTopic(name, partitions: partitions, configs: ["retention.ms": "-1", "retention.bytes": "-1"])
        return name
    }
}

struct ConnectorTestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs blocking work (librdkafka calls, job execution, log reads) on a thread of its own, so a test
/// never blocks Swift's cooperative pool (two threads on this machine). Expectations belong in the
/// async test body, never in `body`: swift-testing attributes issues to a test through task-locals,
/// which a thread of our own does not have.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = "connector test"
        thread.start()
    }
}

/// The logger of jobs under test: silent unless SLUICE_TEST_LOG is set.
func testLogger(_ label: String = "sluice.connector-test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["SLUICE_TEST_LOG"] != nil ? .debug : .critical
    return logger
}

/// A fresh temporary checkpoint directory.
func temporaryCheckpointDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "sluice-connector-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func runtimeConfiguration(
    _ name: String, parallelism: Int = 2, checkpointDirectory: String? = nil, intervalMillis: Int64 = 250
) -> RuntimeConfiguration {
    var configuration = RuntimeConfiguration(
        jobName: name, defaultParallelism: parallelism,
        checkpointing: CheckpointConfig(interval: .milliseconds(intervalMillis), directory: checkpointDirectory),
        restartStrategy: .none, logger: testLogger(), faultInjector: .disabled, sourceIdleWait: .milliseconds(2))
    // Tests without a directory run one process to its end: in-memory checkpoints are enough there.
    configuration.allowExactlyOnceWithInMemoryCheckpoints = checkpointDirectory == nil
    return configuration
}

/// Polls `condition` until it holds or `timeout` passed. State-based waiting; the timeout only
/// bounds a failing test.
func waitUntil(timeout: Duration = .seconds(60), pollEvery: Duration = .milliseconds(100), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: Double(pollEvery.components.attoseconds) / 1e18 + Double(pollEvery.components.seconds))
    }
    return try condition()
}

/// A job running `execute()` on a thread of its own. The environment is declared on that thread
/// too (it is not Sendable); only its `JobControl` comes back.
final class RunningJob: @unchecked Sendable {
    // @unchecked: `control` and `outcome` are only read and written with `condition` locked.
    private let condition = NSCondition()
    private var control: JobControl?
    private var outcome: Result<JobResult, any Error>?

    static func start(_ declare: @escaping @Sendable () throws -> StreamExecutionEnvironment) -> RunningJob {
        let job = RunningJob()
        let thread = Thread {
            do {
                let env = try declare()
                job.update { $0.control = env.control }
                let result = try env.execute()
                job.update { $0.outcome = .success(result) }
            } catch {
                job.update { $0.outcome = .failure(error) }
            }
        }
        thread.name = "connector test job"
        thread.start()
        return job
    }

    private func update(_ change: (RunningJob) -> Void) {
        condition.lock()
        change(self)
        condition.broadcast()
        condition.unlock()
    }

    /// True once `execute()` returned or threw.
    var hasEnded: Bool {
        condition.lock()
        defer { condition.unlock() }
        return outcome != nil
    }

    /// Waits (bounded) for `execute()` to return or throw.
    func waitForEnd(timeout: TimeInterval = 60) throws -> Result<JobResult, any Error> {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil {
            if !condition.wait(until: deadline) { break }
        }
        guard let outcome else { throw ConnectorTestFailure(description: "the job did not end within \(timeout) s") }
        return outcome
    }

    /// Cancels the job and waits (bounded) until `execute()` returned.
    @discardableResult
    func cancel(timeout: TimeInterval = 60) throws -> JobResult {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while control == nil && outcome == nil {
            if !condition.wait(until: deadline) { break }
        }
        let control = self.control
        condition.unlock()
        control?.cancel()
        return try waitForEnd(timeout: timeout).get()
    }
}

extension RunningJob {
    func cancelled(timeout: TimeInterval = 60) async throws -> JobResult {
        try await onOwnThread { try self.cancel(timeout: timeout) }
    }

    func ended(timeout: TimeInterval = 60) async throws -> Result<JobResult, any Error> {
        try await onOwnThread { try self.waitForEnd(timeout: timeout) }
    }
}

/// `waitUntil` on a thread of its own.
func eventually(timeout: Duration = .seconds(60), _ condition: @escaping @Sendable () throws -> Bool) async throws -> Bool {
    try await onOwnThread { try waitUntil(timeout: timeout, condition) }
}

func readOutput(_ topic: String, bootstrap: String) async throws -> CommittedOutput {
    try await onOwnThread { try CommittedOutput.read(topic, bootstrap: bootstrap) }
}

func produce(_ records: [ProducerRecord], bootstrap: String) async throws {
    try await onOwnThread { try produce(records, bootstrap: bootstrap) }
}

/// Produces `records` (idempotent, acks=all) and waits until every one is acknowledged.
func produce(_ records: [ProducerRecord], bootstrap: String) throws {
    var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
    configuration.enableIdempotence = true
    configuration.linger = .milliseconds(5)
    let producer = try KafkaProducer(configuration: configuration, deliveryReports: .collectFailures)
    defer { producer.close() }
    for record in records { try producer.produce(record) }
    try producer.flush(timeout: .seconds(30))
    let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
    if let first = failures.first {
        throw ConnectorTestFailure(description: "\(failures.count) input records were not delivered: \(first.error.map { "\($0)" } ?? "?")")
    }
}

/// What a read_committed reader may see of a topic, read with the transaction-aware oracle (the
/// embedded broker shows aborted records to librdkafka's read_committed consumers).
struct CommittedOutput: Sendable {
    var log: TopicLog

    var values: [String] { log.committedRecords.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } }
    var count: Int { log.committedRecords.count }

    /// How often each value occurs.
    var counts: [String: Int] { values.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    /// Values that occur more than once.
    var duplicates: [String: Int] { counts.filter { $0.value > 1 } }

    static func read(_ topic: String, bootstrap: String) throws -> CommittedOutput {
        let reader = try TransactionAwareLogReader(bootstrap: bootstrap)
        return CommittedOutput(log: try reader.readTopic(topic))
    }
}

/// Compares committed output with the expected values: exactly once each, nothing else.
func expectExactlyOnce(_ output: CommittedOutput, _ expected: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) {
    let counts = output.counts
    let missing = expected.subtracting(counts.keys)
    let unexpected = Set(counts.keys).subtracting(expected)
    let duplicates = output.duplicates
    #expect(missing.isEmpty, "\(missing.count) values missing, e.g. \(missing.sorted().prefix(5))", sourceLocation: sourceLocation)
    #expect(unexpected.isEmpty, "\(unexpected.count) unexpected values, e.g. \(unexpected.sorted().prefix(5))", sourceLocation: sourceLocation)
    #expect(duplicates.isEmpty, "\(duplicates.count) values more than once, e.g. \(duplicates.sorted { $0.key < $1.key }.prefix(5))", sourceLocation: sourceLocation)
    #expect(output.count == expected.count, sourceLocation: sourceLocation)
}

/// A text value from a Kafka record (nil value: dropped).
let textValue: @Sendable (KafkaRecord) throws -> String? = { $0.valueString }

/// A record whose value is the string's UTF-8 bytes, on the sink's default topic.
let textRecord: @Sendable (String) throws -> KafkaSinkRecord = { KafkaSinkRecord(value: Array($0.utf8)) }

func sourceConfiguration(
    _ bootstrap: String, topic: String, group: String, startingOffsets: KafkaStartingOffsets = .earliest,
    malformed: MalformedRecordPolicy = .fail
) -> KafkaSourceConfiguration {
    KafkaSourceConfiguration(
        bootstrapServers: bootstrap, topics: [topic], startingOffsets: startingOffsets, groupId: group,
        partitionDiscoveryInterval: nil, malformedRecords: malformed)
}

/// Exactly-once on the embedded broker, which needs the hold-back (its last stable offset moves only
/// while no transaction is open).
func exactlyOnceSinkConfiguration(_ bootstrap: String, topic: String, prefix: String) -> KafkaSinkConfiguration {
    KafkaSinkConfiguration(
        bootstrapServers: bootstrap, topic: topic, deliveryGuarantee: .exactlyOnce(prefix: prefix),
        producerPoolSize: 4, transactionTimeout: .seconds(900), holdBackWhileCommitPending: true)
}

/// The exactly-once `KafkaSink` of text values on `topic`.
func exactlyOnceSink(_ bootstrap: String, topic: String, prefix: String) -> KafkaSink<String> {
    KafkaSink(configuration: exactlyOnceSinkConfiguration(bootstrap, topic: topic, prefix: prefix), serializer: textRecord)
}

/// The group's committed offsets for `partitions` (asked with a consumer of that group).
func committedGroupOffsets(_ bootstrap: String, group: String, topic: String, partitions: Int32) throws -> [Int32: Int64] {
    var configuration = KafkaConfiguration(bootstrapServers: bootstrap)
    configuration.groupId = group
    let consumer = try KafkaConsumer(configuration: configuration)
    defer { consumer.close() }
    let committed = try consumer.committed((0..<partitions).map { TopicPartition(topic, $0) })
    return Dictionary(uniqueKeysWithValues: committed.map { ($0.key.partition, $0.value) })
}

/// Discards everything: for jobs whose sink does not matter to the test.
final class DiscardingSink<Input: Sendable>: SinkWriter {
    init() {}
    func write(_ value: Input, timestamp: Int64?) throws {}
    func flush() throws {}
}
