import Synchronization

/// A thread-safe list the collecting sinks append to; read it after (or while) the job runs.
public final class CollectedValues<T: Sendable>: Sendable {
    private let storage = Mutex<[T]>([])
    public init() {}
    public var values: [T] { storage.withLock { $0 } }
    public var count: Int { storage.withLock { $0.count } }
    func append(contentsOf values: [T]) { storage.withLock { $0.append(contentsOf: values) } }
}

/// A non-transactional sink for tests: appends every record to `target` as it arrives
/// (at-least-once: after a restart, replayed records appear again).
public final class CollectingSink<T: Sendable>: SinkWriter {
    public typealias Input = T
    let target: CollectedValues<T>

    public init(into target: CollectedValues<T>) {
        self.target = target
    }

    public func write(_ value: T, timestamp: Int64?) throws { target.append(contentsOf: [value]) }

    public func flush() throws {}
}

/// An in-memory "external system" with transactions, standing in for Kafka in tests: it survives
/// job restarts (keep one instance), shows uncommitted data separately, and commits idempotently.
public final class InMemoryTransactionalStore<T: Sendable>: Sendable {
    public enum TransactionState: Sendable, Equatable {
        case open, prepared, committed, aborted
    }
    private struct Transaction {
        var state: TransactionState
        var values: [T]
    }
    private struct State {
        var transactions: [String: Transaction] = [:]
        var commitOrder: [String] = []
        var epochs: [String: Int] = [:]
        var commitCalls = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Opens a transaction for `id`; returns its unique handle (id plus a new epoch).
    public func begin(_ id: String) -> String {
        state.withLock { s in
            let epoch = (s.epochs[id] ?? 0) + 1
            s.epochs[id] = epoch
            let handle = "\(id)#\(epoch)"
            s.transactions[handle] = Transaction(state: .open, values: [])
            return handle
        }
    }

    public func write(_ handle: String, _ values: [T]) throws {
        try state.withLock { s in
            guard var txn = s.transactions[handle] else { throw CollectionConnectorError.transactionNotFound(handle) }
            guard txn.state == .open else { throw CollectionConnectorError.transactionAborted(handle) }
            txn.values.append(contentsOf: values)
            s.transactions[handle] = txn
        }
    }

    public func prepare(_ handle: String) throws {
        try state.withLock { s in
            guard var txn = s.transactions[handle] else { throw CollectionConnectorError.transactionNotFound(handle) }
            guard txn.state != .aborted else { throw CollectionConnectorError.transactionAborted(handle) }
            txn.state = .prepared
            s.transactions[handle] = txn
        }
    }

    /// Idempotent: committing a committed transaction does nothing.
    public func commit(_ handle: String) throws {
        try state.withLock { s in
            s.commitCalls += 1
            guard var txn = s.transactions[handle] else { throw CollectionConnectorError.transactionNotFound(handle) }
            switch txn.state {
            case .committed: return
            case .aborted: throw CollectionConnectorError.transactionAborted(handle)
            case .open, .prepared:
                txn.state = .committed
                s.transactions[handle] = txn
                s.commitOrder.append(handle)
            }
        }
    }

    public func abort(_ handle: String) {
        state.withLock { s in
            guard var txn = s.transactions[handle], txn.state != .committed else { return }
            txn.state = .aborted
            s.transactions[handle] = txn
        }
    }

    /// Aborts every open or prepared transaction whose id starts with `prefix` and whose
    /// handle passes `filter`.
    public func abortUnfinished(prefix: String, where filter: (String) -> Bool = { _ in true }) -> [String] {
        state.withLock { s in
            var aborted: [String] = []
            for (handle, txn) in s.transactions
            where handle.hasPrefix(prefix) && (txn.state == .open || txn.state == .prepared) && filter(handle) {
                s.transactions[handle]?.state = .aborted
                aborted.append(handle)
            }
            return aborted
        }
    }

    /// Values of committed transactions, in commit order (what a read_committed reader sees).
    public var committedValues: [T] {
        state.withLock { s in s.commitOrder.flatMap { s.transactions[$0]?.values ?? [] } }
    }

    public func state(of handle: String) -> TransactionState? { state.withLock { $0.transactions[handle]?.state } }

    public var unfinishedTransactions: [String] {
        state.withLock { s in s.transactions.filter { $0.value.state == .open || $0.value.state == .prepared }.map(\.key).sorted() }
    }

    public var committedTransactions: [String] { state.withLock { $0.commitOrder } }
    public var commitCalls: Int { state.withLock { $0.commitCalls } }
}

/// A two-phase-commit sink into an `InMemoryTransactionalStore`: records go into the store's
/// open transaction as they arrive (like a Kafka transactional producer), transactions are named
/// `<name>-<subtask>-<checkpointId>` and committed on checkpoint completion.
public final class TransactionalCollectingSink<T: Sendable>: TwoPhaseCommitSink {
    public typealias Input = T
    /// The store handle and the records not yet sent to the store.
    public typealias Transaction = (handle: String, buffer: [T])
    public typealias Committable = String

    let store: InMemoryTransactionalStore<T>
    let name: String
    private var subtask = 0
    private var parallelism = 1

    public init(store: InMemoryTransactionalStore<T>, name: String = "sink") {
        self.store = store
        self.name = name
    }

    public func open(_ context: SinkContext<String>) throws {
        subtask = context.subtaskIndex
        parallelism = context.parallelism
    }

    public func beginTransaction(checkpointId: Int64) throws -> Transaction {
        (store.begin("\(name)-\(subtask)-\(checkpointId)"), [])
    }

    public func write(_ value: T, timestamp: Int64?, to transaction: inout Transaction) throws {
        transaction.buffer.append(value)
        if transaction.buffer.count >= 256 {
            try store.write(transaction.handle, transaction.buffer)
            transaction.buffer.removeAll(keepingCapacity: true)
        }
    }

    public func preCommit(_ transaction: inout Transaction) throws -> String? {
        try store.write(transaction.handle, transaction.buffer)
        transaction.buffer.removeAll()
        try store.prepare(transaction.handle)
        return transaction.handle
    }

    public func commit(_ committable: String) throws { try store.commit(committable) }

    /// The store's state of the transaction: aborted ones are lost (the store has no offsets: the
    /// sink's name and the handle name them).
    public func restoredTransactionState(_ committable: String, checkpointId: Int64) throws -> RestoredTransactionState {
        switch store.state(of: committable) {
        case .committed: .committed
        case .aborted: .lost([LostOutputRange(partition: name, firstOffset: 0, endOffset: nil, checkpointId: checkpointId, transaction: committable)])
        case .open, .prepared, nil: .pending
        }
    }

    public func abort(_ transaction: inout Transaction) throws { store.abort(transaction.handle) }

    /// Aborts what earlier runs left open in this subtask's share of transaction ids: the ids of
    /// every old subtask j with j % parallelism == this subtask, for checkpoints after the restored
    /// one (those up to it belong to the checkpoint and are committed by whichever subtask got them).
    public func recoverAndAbort(_ context: SinkRecoveryContext) throws {
        let previous = max(context.previousParallelism ?? context.parallelism, context.parallelism)
        let first = context.firstCheckpointId
        for j in Swift.stride(from: context.subtaskIndex, to: previous, by: context.parallelism) {
            let prefix = "\(name)-\(j)-"
            _ = store.abortUnfinished(prefix: prefix) { handle in
                let rest = handle.dropFirst(prefix.count).prefix { $0 != "#" }
                return (Int64(rest) ?? first) >= first
            }
        }
    }
}
