import Foundation
import Logging
import Synchronization

/// The abort strategy of the exactly-once sink (Flink's `TransactionAbortStrategy`): at start, after
/// the restored committables are committed, initialise every transactional id the job may have
/// left a transaction open on. `initTransactions` fences the old producer and aborts its open
/// transaction, so nothing is probed. The ids are the subtask's own slots (whose producers are kept
/// for this run) and, after a scale-down, the slots of old subtasks that map onto it (initialised
/// once, then closed).
///
/// A start without a checkpoint knows no earlier parallelism: the ids of subtasks up to the sink's
/// declared `maxParallelism` are initialised too. ListTransactions (filtered by the prefix) would
/// find them without a declaration, but not every broker answers it (the embedded test broker
/// closes the connection), and a fixed pool keeps the set of ids known anyway.
struct LingeringTransactionAborter {
    let factory: any TransactionalProducerFactory
    let logger: Logger
    /// The largest parallelism the sink may have run with before (nil: not declared).
    var declaredMaxParallelism: Int? = nil

    /// Returns the transactional ids that were initialised.
    @discardableResult
    func abortLingering(in pool: KafkaProducerPool, parallelism: Int, previousParallelism: Int?) throws(KafkaSinkError) -> [String] {
        let own = Set((0..<pool.size).map { pool.transactionalId(slot: $0) })
        let foreign = pool.ids.idsToAbort(
            subtask: pool.subtask, parallelism: parallelism, previousParallelism: previousParallelism,
            declaredMaxParallelism: declaredMaxParallelism)
            .filter { !own.contains($0) }
        if previousParallelism == nil, declaredMaxParallelism == nil, pool.subtask == 0 {
            logger.notice("Started without a checkpoint: transactions left open by subtasks \(parallelism) and above of an earlier run with this prefix are not aborted (they would hold downstream read_committed readers back). Declare the sink's maxParallelism (--sink-max-parallelism) to abort them.")
        }
        let missingSlots = pool.emptySlots
        let ids = foreign + missingSlots.map { pool.transactionalId(slot: $0) }
        let made = try initialiseConcurrently(ids)
        for (index, id) in foreign.enumerated() {
            made[index].close()
            logger.info("Aborted leftovers of transactional id \(id) (a subtask of an earlier, larger parallelism: \(previousParallelism.map { "\($0)" } ?? "up to the declared \(declaredMaxParallelism ?? 0)")).")
        }
        for (offset, slot) in missingSlots.enumerated() { pool.install(made[foreign.count + offset], slot: slot) }
        return ids
    }

    /// Creates and initialises producers for `ids` at once: `initTransactions` is a broker round trip
    /// or more (0.05-0.5 s on a small test broker), and a subtask initialises its whole pool at start,
    /// so one after the other it delayed the job's first output. On any failure every producer made is
    /// closed and the first error (in `ids` order) is thrown.
    func initialiseConcurrently(_ ids: [String]) throws(KafkaSinkError) -> [any TransactionalProducerClient] {
        let factory = factory
        let results = BlockingFanOut.run(name: "sluice-sink-init", count: ids.count) { index in
            Result { () throws(KafkaSinkError) in try factory.makeInitialisedProducer(transactionalId: ids[index]) }
        }
        var producers: [any TransactionalProducerClient] = []
        var firstError: KafkaSinkError?
        for result in results {
            switch result {
            case .success(let producer): producers.append(producer)
            case .failure(let error): firstError = firstError ?? error
            }
        }
        if let firstError {
            for producer in producers { producer.close() }
            throw firstError
        }
        return producers
    }
}

/// Runs `count` blocking jobs at once, each on its own named thread, and returns their results in
/// order. The caller owns the threads: `run` returns only after every one has finished, so none
/// outlives the call. For a handful of jobs that each wait on the network (a shared pool of 2 cores
/// would run them two at a time); a single job runs on the caller's thread.
enum BlockingFanOut {
    static func run<Value: Sendable>(name: String, count: Int, _ job: @escaping @Sendable (Int) -> Value) -> [Value] {
        if count <= 1 { return (0..<count).map(job) }
        let results = Results<Value>()
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            let thread = Thread {
                let value = job(index)
                results.values.withLock { $0[index] = value }
                group.leave()
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
        group.wait()
        let collected = results.values.withLock { $0 }
        return (0..<count).compactMap { collected[$0] }
    }

    /// The jobs' results by index, filled by the jobs' threads.
    private final class Results<Value: Sendable>: Sendable {
        let values = Mutex<[Int: Value]>([:])
    }
}
