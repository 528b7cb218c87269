import Synchronization
import Testing
@testable import SluiceKafkaWire

/// A backend that plays back scripted answers and records what the resolver asked.
final class ScriptedBackend: TransactionResolverBackend {
    enum Answer: Sendable {
        case code(KafkaErrorCode)
        case error(KafkaWireError)
    }

    struct State {
        var coordinatorAnswers: [Answer] = []
        var endTxnAnswers: [Answer] = []
        var markerReads: [[ControlMarker]] = []
        var findCalls = 0
        var endTxnCalls = 0
        var markerCalls = 0
        var markerError: KafkaWireError?
    }

    let state: Mutex<State>

    init(coordinator: [Answer] = [], endTxn: [Answer] = [], markers: [[ControlMarker]] = []) {
        state = Mutex(State(coordinatorAnswers: coordinator, endTxnAnswers: endTxn, markerReads: markers))
    }

    func findCoordinator(transactionalId: String) throws -> BrokerAddress {
        let answer = state.withLock { state -> Answer in
            state.findCalls += 1
            return state.coordinatorAnswers.isEmpty ? .code(.none) : state.coordinatorAnswers.removeFirst()
        }
        switch answer {
        case .code(let code) where code == .none: return BrokerAddress(host: "broker", port: 1)
        case .code(let code): throw KafkaWireError.broker(api: "FindCoordinator", code: code, context: "")
        case .error(let error): throw error
        }
    }

    func endTransaction(coordinator: BrokerAddress, _ committable: TransactionCommittable, commit: Bool) throws -> KafkaErrorCode {
        let answer = state.withLock { state -> Answer in
            state.endTxnCalls += 1
            return state.endTxnAnswers.isEmpty ? .code(.none) : state.endTxnAnswers.removeFirst()
        }
        switch answer {
        case .code(let code): return code
        case .error(let error): throw error
        }
    }

    func firstMarker(in partition: TopicPartition, from offset: Int64,
                     where matches: @escaping @Sendable (ControlMarker) -> Bool) throws -> ControlMarker? {
        let (read, error) = state.withLock { state in
            state.markerCalls += 1
            return (state.markerReads.isEmpty ? [] : state.markerReads.removeFirst(), state.markerError)
        }
        if let error { throw error }
        return read.first(where: matches)
    }
}

@Suite struct TransactionResolverTests {
    let withOffsets = TransactionCommittable(transactionalId: "tx", producerId: 5, epoch: 2,
                                             firstOffsets: [TopicPartition("t", 0): 10])
    let withoutOffsets = TransactionCommittable(transactionalId: "tx", producerId: 5, epoch: 2)
    let noWait = RetryPolicy(attempts: 3, backoff: .zero, sleep: { _ in })

    private func resolver(_ backend: ScriptedBackend) -> TransactionResolver {
        TransactionResolver(backend: backend, retry: noWait)
    }

    /// A first offset the log no longer holds is not retried (it will not come back): the outcome is
    /// unknown, with the reason, and no EndTxn is sent blind.
    @Test func aFirstOffsetGoneFromTheLogIsUnknownNotRetriable() {
        let backend = ScriptedBackend()
        backend.state.withLock {
            $0.markerError = .broker(api: "Fetch", code: .offsetOutOfRange, context: "t-0 at offset 10")
        }
        let outcome = resolver(backend).commit(withOffsets)
        guard case .unknown(let why) = outcome else {
            Issue.record("expected unknown, got \(outcome)")
            return
        }
        #expect(why.contains("OFFSET_OUT_OF_RANGE"))
        #expect(backend.state.withLock { ($0.markerCalls, $0.endTxnCalls) } == (1, 0))
    }

    /// Per partition, the marker of this producer (epoch at least the committable's) after its first offset.
    @Test func markersInLogPerPartition() throws {
        let two = TransactionCommittable(transactionalId: "tx", producerId: 5, epoch: 2,
                                         firstOffsets: [TopicPartition("t", 0): 10, TopicPartition("t", 1): 4])
        let backend = ScriptedBackend(markers: [
            [ControlMarker(offset: 20, producerId: 5, producerEpoch: 3, type: .abort)],
            [ControlMarker(offset: 7, producerId: 6, producerEpoch: 2, type: .abort)],
        ])
        let markers = try resolver(backend).markersInLog(two)
        #expect(markers[TopicPartition("t", 0)] == .some(ControlMarker(offset: 20, producerId: 5, producerEpoch: 3, type: .abort)))
        #expect(markers[TopicPartition("t", 1)] == .some(nil))
    }

    @Test func commitsWhenTheLogShowsNoMarker() {
        let backend = ScriptedBackend(markers: [[ControlMarker(offset: 12, producerId: 99, producerEpoch: 0, type: .commit)]])
        #expect(resolver(backend).commit(withOffsets) == .committed)
        #expect(backend.state.withLock { ($0.endTxnCalls, $0.markerCalls) } == (1, 1))
    }

    @Test func commitMarkerInTheLogMeansAlreadyCommittedWithoutEndTxn() {
        let backend = ScriptedBackend(markers: [[ControlMarker(offset: 12, producerId: 5, producerEpoch: 2, type: .commit)]])
        #expect(resolver(backend).commit(withOffsets) == .alreadyResolved(.committed))
        #expect(backend.state.withLock { $0.endTxnCalls } == 0)
    }

    @Test func abortMarkerOfALaterEpochMeansAlreadyAborted() {
        let backend = ScriptedBackend(markers: [[ControlMarker(offset: 12, producerId: 5, producerEpoch: 3, type: .abort)]])
        #expect(resolver(backend).commit(withOffsets) == .alreadyResolved(.aborted))
    }

    @Test func markersOfAnOlderEpochOrBeforeTheFirstOffsetDoNotCount() {
        let backend = ScriptedBackend(markers: [[
            ControlMarker(offset: 12, producerId: 5, producerEpoch: 1, type: .abort),
            ControlMarker(offset: 9, producerId: 5, producerEpoch: 2, type: .commit),
        ]])
        #expect(resolver(backend).commit(withOffsets) == .committed)
    }

    @Test func retriesAMovingCoordinatorThenCommits() {
        let backend = ScriptedBackend(coordinator: [.code(.coordinatorNotAvailable), .code(.none), .code(.none)],
                                      endTxn: [.code(.notCoordinator), .code(.none)])
        #expect(resolver(backend).commit(withoutOffsets) == .committed)
        #expect(backend.state.withLock { ($0.findCalls, $0.endTxnCalls) } == (3, 2))
    }

    @Test func aCoordinatorThatKeepsMovingIsReportedAfterTheBudget() {
        let backend = ScriptedBackend(coordinator: Array(repeating: .code(.notCoordinator), count: 10))
        guard case .coordinatorMoved = resolver(backend).commit(withoutOffsets) else {
            Issue.record("expected coordinatorMoved")
            return
        }
        #expect(backend.state.withLock { $0.findCalls } == 3)
    }

    @Test func aClosedConnectionIsUnknownUnlessTheLogConfirms() {
        let closed = KafkaWireError.connectionClosed(host: "broker", port: 1, during: "EndTxn")
        let unknown = ScriptedBackend(endTxn: [.error(closed)])
        guard case .unknown = resolver(unknown).commit(withOffsets) else {
            Issue.record("expected unknown")
            return
        }
        let confirmed = ScriptedBackend(endTxn: [.error(closed)],
                                        markers: [[], [ControlMarker(offset: 11, producerId: 5, producerEpoch: 2, type: .commit)]])
        #expect(resolver(confirmed).commit(withOffsets) == .alreadyResolved(.committed))
    }

    @Test func refusalsAreAlreadyResolvedOnlyWhenTheLogConfirms() {
        for code in [KafkaErrorCode.invalidTxnState, .producerFenced, .invalidProducerEpoch] {
            let fenced = ScriptedBackend(endTxn: [.code(code)])
            guard case .fenced = resolver(fenced).commit(withOffsets) else {
                Issue.record("expected fenced for \(code)")
                continue
            }
            let confirmed = ScriptedBackend(endTxn: [.code(code)],
                                            markers: [[], [ControlMarker(offset: 11, producerId: 5, producerEpoch: 2, type: .commit)]])
            #expect(resolver(confirmed).commit(withOffsets) == .alreadyResolved(.committed))
        }
    }

    @Test func timeoutsAndConcurrentTransactionsAreRetriable() {
        let timeout = KafkaWireError.requestTimeout(api: "EndTxn", host: "broker", port: 1, milliseconds: 10)
        #expect(resolver(ScriptedBackend(endTxn: [.error(timeout)])).commit(withoutOffsets) == .retriable(timeout))
        let busy = ScriptedBackend(endTxn: Array(repeating: .code(.concurrentTransactions), count: 5))
        guard case .retriable = resolver(busy).commit(withoutOffsets) else {
            Issue.record("expected retriable")
            return
        }
        #expect(busy.state.withLock { $0.endTxnCalls } == 3)
        let thenOK = ScriptedBackend(endTxn: [.code(.concurrentTransactions), .code(.none)])
        #expect(resolver(thenOK).abort(withoutOffsets) == .aborted)
    }
}
