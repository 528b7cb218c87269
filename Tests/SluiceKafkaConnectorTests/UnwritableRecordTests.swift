import CoreMetrics
import Logging
import Metrics
import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceKafkaWire
@testable import SluiceRuntime
import Synchronization
import Testing

/// Output records the sink cannot write (too large for the producer, or rejected by the serializer)
/// follow the sink's `unwritableRecords` policy, and name the input record they were made from.
/// No broker: the policy's handler, and the exactly-once sink over fake producers.
@Suite struct UnwritableRecordTests {
    static func configuration(_ policy: MalformedRecordPolicy, maxMessageBytes: Int? = nil) -> KafkaSinkConfiguration {
        KafkaSinkConfiguration(
            bootstrapServers: "unused:9092", topic: "out", deliveryGuarantee: .exactlyOnce(prefix: "job"), producerPoolSize: 2,
            producerSettings: maxMessageBytes.map { ["message.max.bytes": String($0)] } ?? [:], unwritableRecords: policy)
    }

    static func handler(_ policy: MalformedRecordPolicy, maxMessageBytes: Int? = nil, counter: Counter? = nil) -> UnwritableRecordHandler {
        UnwritableRecordHandler(configuration: configuration(policy, maxMessageBytes: maxMessageBytes), counter: counter, logger: Logger(label: "test"))
    }

    struct SerializerFailure: Error, CustomStringConvertible { var description: String { "no JSON for NaN" } }

    /// `body` runs on a thread of its own, as a subtask does, while the input record
    /// `in`/2@41 goes down the chain.
    static func whileProcessingInput<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await onOwnThread {
            let current = CurrentInputRecord.ofCurrentThread()
            current.enter(topic: "in", partition: 2)
            current.process(offset: 41)
            defer { current.clear() }
            return try body()
        }
    }

    static func unwritable(_ body: @escaping @Sendable () throws -> Void) async throws -> UnwritableRecord? {
        try await whileProcessingInput { () -> UnwritableRecord? in
            do {
                try body()
            } catch KafkaSinkError.unwritableRecord(let record) {
                return record
            }
            return nil
        }
    }

    @Test func anOversizedRecordFailsTheJobNamingTheInputRecord() async throws {
        let failure = try await Self.unwritable {
            _ = try Self.handler(.fail).prepare(
                "x", timestamp: nil, checkpointId: 3, serializer: { _ in KafkaSinkRecord(value: Array(repeating: 1, count: 1_000_000)) })
        }
        let record = try #require(failure)
        #expect(record.input == KafkaRecordOrigin(topic: "in", partition: 2, offset: 41))
        #expect(record.description.contains("Cannot write an output record to topic 'out' (input record topic 'in', partition 2, offset 41)"))
        #expect(record.description.contains("the serialised record is 1000064 bytes, above the producer's message.max.bytes (1000000)"))
        #expect(record.description.contains("-X message.max.bytes"))
    }

    @Test func theLimitIsTheProducersConfiguredMessageMaxBytes() async throws {
        let handler = Self.handler(.fail, maxMessageBytes: 2_000)
        let fits = try handler.prepare("x", timestamp: nil, checkpointId: nil, serializer: { _ in KafkaSinkRecord(value: Array(repeating: 1, count: 1_900)) })
        #expect(fits?.value?.count == 1_900)
        #expect(throws: KafkaSinkError.self) {
            _ = try handler.prepare("x", timestamp: nil, checkpointId: nil, serializer: { _ in KafkaSinkRecord(value: Array(repeating: 1, count: 1_950)) })
        }
    }

    @Test func aSerializerErrorFollowsThePolicyToo() async throws {
        let failure = try await Self.unwritable {
            _ = try Self.handler(.fail).prepare("x", timestamp: nil, checkpointId: 3, serializer: { _ in throw SerializerFailure() })
        }
        let record = try #require(failure)
        #expect(record.description.contains("(input record topic 'in', partition 2, offset 41): the sink's serializer failed: no JSON for NaN"))
    }

    @Test func withoutAnInputRecordTheErrorNamesWhatIsKnown() async throws {
        // A sink after a keyed exchange or a window: nothing is set on its thread.
        let failure = try await onOwnThread { () -> UnwritableRecord? in
            do {
                _ = try Self.handler(.fail).prepare(
                    "x", timestamp: nil, checkpointId: 7,
                    serializer: { _ in KafkaSinkRecord(topic: "totals", key: Array("/help".utf8), value: Array(repeating: 1, count: 2_000_000)) })
            } catch KafkaSinkError.unwritableRecord(let record) {
                return record
            }
            return nil
        }
        let record = try #require(failure)
        #expect(record.input == nil)
        #expect(record.description.contains(
            "to topic 'totals' (no single input record (the output of a keyed exchange, a window or a timer); key '/help'; "
                + "written in the transaction of checkpoint 7)"))
    }

    @Test func skipCountsAndDropsTheRecord() throws {
        let counted = CapturingMetrics()
        let handler = Self.handler(.skip, counter: Counter(label: "sluice_sink_unwritable_records", factory: counted))
        let written = try handler.prepare("x", timestamp: nil, checkpointId: 1, serializer: { _ in throw SerializerFailure() })
        #expect(written == nil)
        #expect(counted.counters["sluice_sink_unwritable_records"] == 1)
    }

    @Test func aDeadLetterNamesTheInputRecordAndCarriesNoValue() async throws {
        let letter = try await Self.whileProcessingInput {
            try Self.handler(.deadLetter(topic: "dlq")).prepare(
                "x", timestamp: nil, checkpointId: 4,
                serializer: { _ in KafkaSinkRecord(key: Array("k".utf8), value: Array(repeating: 1, count: 1_200_000)) })
        }
        let record = try #require(letter)
        #expect(record.topic == "dlq")
        #expect(record.key == Array("k".utf8))
        #expect(record.value?.count == nil)
        let headers = Dictionary(uniqueKeysWithValues: record.headers.map { ($0.key, String(decoding: $0.value ?? [], as: UTF8.self)) })
        #expect(headers["sluice.dlq.topic"] == "in")
        #expect(headers["sluice.dlq.partition"] == "2")
        #expect(headers["sluice.dlq.offset"] == "41")
        #expect(headers["sluice.dlq.output.topic"] == "out")
        #expect(headers["sluice.dlq.checkpoint"] == "4")
        #expect(headers["sluice.dlq.size"] == "1200065")
        #expect(headers["sluice.dlq.error"]?.contains("above the producer's message.max.bytes (1000000)") == true)
    }

    /// The exactly-once sink writes the dead letter into the open transaction (committed with its
    /// checkpoint) and the rest of the output around it; librdkafka's own refusal
    /// (`MSG_SIZE_TOO_LARGE`, which its framing can cause for records at the limit) is handled the same way.
    @Test(arguments: [false, true])
    func theExactlyOnceSinkDeadLettersInTheSameTransaction(refusedByLibrdkafka: Bool) async throws {
        let factory = FakeProducerFactory()
        let produced = try await Self.whileProcessingInput { () -> [ProducerRecord] in
            let limit = refusedByLibrdkafka ? 10_000_000 : 1_000_000
            let sink = KafkaTwoPhaseCommitSink<String>(
                configuration: Self.configuration(.deadLetter(topic: "dlq"), maxMessageBytes: limit), prefix: "job",
                serializer: { KafkaSinkRecord(value: $0 == "big" ? Array(repeating: 1, count: 1_500_000) : Array($0.utf8)) },
                clients: .init(producers: factory, recovery: { FakeRecoveryClient([.committed]) }))
            try sink.open(SinkPartsTests.context(checkpointInterval: nil))
            try sink.recoverAndAbort(SinkRecoveryContext(
                subtaskIndex: 0, parallelism: 1, previousParallelism: nil, restoredCheckpointId: nil, firstCheckpointId: 1))
            for producer in factory.producers { producer.refuseLargerThan = 1_000_000 }
            var transaction = try sink.beginTransaction(checkpointId: 1)
            for value in ["a", "big", "b"] { try sink.write(value, timestamp: nil, to: &transaction) }
            guard let committable = try sink.preCommit(&transaction) else { throw ConnectorTestFailure(description: "no committable") }
            try sink.commit(committable)
            return factory.producer(committable.transactionalId)?.produced ?? []
        }
        #expect(produced.map { $0.topic } == ["out", "dlq", "out"])
        #expect(produced.count == 3 && produced[1].value == nil)
        let error = produced.dropFirst().first?.headers.first { $0.key == "sluice.dlq.error" }.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        #expect(error?.contains(refusedByLibrdkafka ? "MSG_SIZE_TOO_LARGE" : "message.max.bytes (1000000)") == true, "\(error ?? "")")
        #expect(factory.producers.first { !$0.produced.isEmpty }?.calls == ["begin", "produce", "produce", "produce", "flush", "commit"])
    }

    @Test func skipInTheExactlyOnceSinkWritesTheRest() async throws {
        let factory = FakeProducerFactory()
        let sink = KafkaTwoPhaseCommitSink<String>(
            configuration: Self.configuration(.skip), prefix: "job",
            serializer: { value in
                guard value != "bad" else { throw SerializerFailure() }
                return KafkaSinkRecord(value: Array(value.utf8))
            },
            clients: .init(producers: factory, recovery: { FakeRecoveryClient([.committed]) }))
        try sink.open(SinkPartsTests.context(checkpointInterval: nil))
        var transaction = try sink.beginTransaction(checkpointId: 1)
        for value in ["a", "bad", "b"] { try sink.write(value, timestamp: nil, to: &transaction) }
        #expect(transaction.records == 2)
        let produced = factory.producers.flatMap(\.produced).map { String(decoding: $0.value ?? [], as: UTF8.self) }
        #expect(produced == ["a", "b"])
    }

    // MARK: the hold-back's byte bound

    @Test func theHoldBackIsBoundedInBytes() throws {
        let parts = FakeSinkParts()
        let metrics = CapturingMetrics()
        let holdBack = StalledLastStableOffsetHoldBack(
            decorating: parts.writer, limit: 1_000, byteLimit: 250, heldBackBytes: Gauge(label: "held", factory: metrics))
        var first = try holdBack.beginTransaction(checkpointId: 1)
        try holdBack.write(record("one"), to: &first)
        let preCommitted = try #require(try holdBack.preCommit(&first))
        parts.committer.awaitCommit(preCommitted)
        var second = try holdBack.beginTransaction(checkpointId: 2)
        let hundred = String(repeating: "x", count: 100)
        try holdBack.write(record(hundred), to: &second)
        try holdBack.write(record(hundred), to: &second)
        #expect(holdBack.heldBackBytes == 200)
        #expect(holdBack.heldBackCount == 2)
        // The third would make 300 bytes, above 250: it goes out at once, after the two held ones.
        try holdBack.write(record(hundred), to: &second)
        let secondProducer = try #require(parts.factory.producer("job-0-1"))
        #expect(secondProducer.produced.count == 3)
        #expect(holdBack.heldBackBytes == 0)
        #expect(metrics.gauges["held"] == 0)
        #expect(second.records == 3)
    }

    @Test func theHoldBackSetsItsGaugeWhileHolding() throws {
        let parts = FakeSinkParts()
        let metrics = CapturingMetrics()
        let holdBack = StalledLastStableOffsetHoldBack(decorating: parts.writer, heldBackBytes: Gauge(label: "held", factory: metrics))
        var first = try holdBack.beginTransaction(checkpointId: 1)
        try holdBack.write(record("one"), to: &first)
        let preCommitted = try #require(try holdBack.preCommit(&first))
        parts.committer.awaitCommit(preCommitted)
        var second = try holdBack.beginTransaction(checkpointId: 2)
        for _ in 0..<1_024 { try holdBack.write(record("ten bytes!"), to: &second) }
        #expect(metrics.gauges["held"] == 10_240)
        try holdBack.abort(&second)
        #expect(metrics.gauges["held"] == 0)
    }

    @Test func aNegativeHoldBackByteLimitIsRefused() {
        var configuration = Self.configuration(.fail)
        configuration.holdBackMaxBytes = -1
        #expect(throws: KafkaSinkError.self) { try configuration.validate() }
        #expect(Self.configuration(.fail).holdBackMaxBytes == 64 << 20)
    }
}

/// Counters and gauges by label, last value kept.
final class CapturingMetrics: MetricsFactory, Sendable {
    private let values = Mutex<(counters: [String: Int64], gauges: [String: Double])>(([:], [:]))

    var counters: [String: Int64] { values.withLock { $0.counters } }
    var gauges: [String: Double] { values.withLock { $0.gauges } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(label: label, owner: self) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler(label: label, owner: self) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(label: label, owner: self) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let label: String
        let owner: CapturingMetrics
        init(label: String, owner: CapturingMetrics) {
            self.label = label
            self.owner = owner
        }
        func increment(by amount: Int64) { owner.values.withLock { $0.counters[label, default: 0] += amount } }
        func reset() { owner.values.withLock { $0.counters[label] = 0 } }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) { owner.values.withLock { $0.gauges[label] = value } }
        func recordNanoseconds(_ duration: Int64) {}
    }
}
