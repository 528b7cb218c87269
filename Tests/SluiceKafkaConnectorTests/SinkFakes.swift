import Logging
import Synchronization
@testable import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceKafkaWire

/// In-memory fakes of the clients the exactly-once sink's parts talk to (a producer, a producer
/// factory, the wire-level EndTxn): no broker, just what was called, in order.

/// A transactional producer that records its calls.
final class FakeProducer: TransactionalProducerClient, @unchecked Sendable {
    // @unchecked: each test drives a fake from one thread at a time, as the sink drives its producers
    // (only `BlockingFanOut` creates them on other threads, and hands them over after joining).
    let transactionalId: String
    var calls: [String] = []
    var produced: [ProducerRecord] = []
    var failDeliveries = false
    var identity = ProducerIdAndEpoch(producerId: 7, epoch: 3)
    var closed = false
    /// librdkafka's fatal state, e.g. after another producer fenced this one.
    var fatalState: KafkaError?

    init(transactionalId: String) { self.transactionalId = transactionalId }

    func beginTransaction() throws(KafkaError) { calls.append("begin") }
    /// librdkafka's own size check: records above it are refused with `MSG_SIZE_TOO_LARGE`.
    var refuseLargerThan: Int?
    func produce(_ record: ProducerRecord) throws(KafkaError) {
        if let limit = refuseLargerThan, (record.value?.count ?? 0) > limit {
            throw KafkaError(kind: .other, code: 10, codeName: "MSG_SIZE_TOO_LARGE", message: "fake: message size too large")
        }
        calls.append("produce")
        produced.append(record)
    }
    func flush(timeout: Duration) throws(KafkaError) { calls.append("flush") }
    func drainDeliveryReports() -> [DeliveryReport] {
        guard failDeliveries else { return [] }
        let error = KafkaError(kind: .messageTimedOut, codeName: "_MSG_TIMED_OUT", message: "fake")
        return [DeliveryReport(topic: "out", partition: 0, offset: -1, timestamp: nil, timestampType: nil, error: error)]
    }
    var currentTransactionFirstOffsets: [TopicPartition: Int64] {
        produced.isEmpty ? [:] : [TopicPartition("out", 0): 40]
    }
    func producerIdAndEpoch(timeout: Duration) throws(KafkaError) -> ProducerIdAndEpoch { identity }
    func commitTransaction(timeout: Duration) throws(KafkaError) { calls.append("commit") }
    func abortTransaction(timeout: Duration) throws(KafkaError) { calls.append("abort") }
    func close() { closed = true }
}

/// Makes `FakeProducer`s and remembers them by transactional id, in the order they were initialised.
final class FakeProducerFactory: TransactionalProducerFactory {
    private let made = Mutex<[FakeProducer]>([])
    /// Initialising these ids fails.
    let failing: Set<String>

    init(failing: Set<String> = []) { self.failing = failing }

    func makeInitialisedProducer(transactionalId: String) throws(KafkaSinkError) -> any TransactionalProducerClient {
        if failing.contains(transactionalId) {
            throw .kafka(KafkaError(kind: .timedOut, codeName: "_TIMED_OUT", message: "fake"), context: "initialising '\(transactionalId)'")
        }
        let producer = FakeProducer(transactionalId: transactionalId)
        made.withLock { $0.append(producer) }
        return producer
    }

    var producers: [FakeProducer] { made.withLock { $0 } }
    func producer(_ id: String) -> FakeProducer? { producers.first { $0.transactionalId == id } }
}

/// Answers EndTxn with scripted outcomes (the last one repeats), and counts the calls.
final class FakeRecoveryClient: TransactionRecoveryClient {
    var outcomes: [TransactionOutcome]
    private(set) var committed: [TransactionCommittable] = []

    init(_ outcomes: [TransactionOutcome]) { self.outcomes = outcomes }

    func commit(_ committable: TransactionCommittable) -> TransactionOutcome {
        committed.append(committable)
        return outcomes.count > 1 ? outcomes.removeFirst() : outcomes.first ?? .committed
    }

    /// What `markersInLog` answers, per transactional id (absent: no marker in any partition).
    var markers: [String: [TopicPartition: ControlMarker?]] = [:]
    var markerError: (any Error)?

    func markersInLog(_ committable: TransactionCommittable) throws -> [TopicPartition: ControlMarker?] {
        if let markerError { throw markerError }
        return markers[committable.transactionalId] ?? committable.firstOffsets.mapValues { _ in nil }
    }
}

/// A pool, writer and committer over fakes, as `KafkaTwoPhaseCommitSink.open` wires them.
struct FakeSinkParts {
    let factory = FakeProducerFactory()
    let recovery: FakeRecoveryClient
    let pool: KafkaProducerPool
    let writer: KafkaTransactionalWriter
    let committer: KafkaCommitter
    /// What the committer slept between recovery attempts.
    let pauses: PauseLog

    final class PauseLog { var values: [Duration] = [] }

    init(poolSize: Int = 4, subtask: Int = 0, recovery: [TransactionOutcome] = [.committed]) {
        self.recovery = FakeRecoveryClient(recovery)
        pool = KafkaProducerPool(ids: KafkaTransactionalIdPool(prefix: "job", size: poolSize), subtask: subtask, factory: factory)
        writer = KafkaTransactionalWriter(pool: pool, counters: KafkaSinkCounters(), transactionCallTimeout: .seconds(1))
        let pauses = PauseLog()
        self.pauses = pauses
        let client = self.recovery
        committer = KafkaCommitter(
            pool: pool, counters: KafkaSinkCounters(), logger: Logger(label: "test"),
            pause: { pauses.values.append($0) }, makeRecoveryClient: { client })
    }
}

func committable(_ id: String, offsets: [TopicPartition: Int64] = [:]) -> TransactionCommittable {
    TransactionCommittable(transactionalId: id, producerId: 11, epoch: 2, firstOffsets: offsets)
}

func record(_ text: String) -> ProducerRecord { ProducerRecord(topic: "out", value: Array(text.utf8)) }
