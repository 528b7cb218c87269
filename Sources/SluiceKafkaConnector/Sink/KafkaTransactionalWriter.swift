import Metrics
import SluiceKafka

/// An open Kafka transaction of the exactly-once sink.
struct KafkaSinkTransaction: Sendable {
    let slot: Int
    let transactionalId: String
    let checkpointId: Int64
    /// Records written into it (held back ones included).
    var records = 0
}

/// Writes records into the open transaction of the exactly-once sink and flushes it at the barrier.
/// `KafkaTransactionalWriter` does it; `StalledLastStableOffsetHoldBack` decorates it.
protocol TransactionalRecordWriter: AnyObject {
    func beginTransaction(checkpointId: Int64) throws(KafkaSinkError) -> KafkaSinkTransaction
    func write(_ record: ProducerRecord, to transaction: inout KafkaSinkTransaction) throws(KafkaSinkError)
    /// Flushes the transaction; nil when it holds nothing (it is then ended here and its slot released).
    func preCommit(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) -> KafkaCommitter.PreCommitted?
    func abort(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError)
    /// Called after each commit of a checkpoint's transaction.
    func didCommit() throws(KafkaSinkError)
}

/// The exactly-once sink's writer (Flink's `KafkaWriter` in exactly-once mode): each checkpoint's
/// records go into one transaction of a pooled producer; at the barrier, `preCommit` flushes it,
/// checks that every record was delivered, and returns the committable (transactional id, producer
/// id and epoch, first offset per partition) the checkpoint keeps.
final class KafkaTransactionalWriter: TransactionalRecordWriter {
    let pool: KafkaProducerPool
    private let counters: KafkaSinkCounters
    private let transactionCallTimeout: Duration

    init(pool: KafkaProducerPool, counters: KafkaSinkCounters, transactionCallTimeout: Duration) {
        self.pool = pool
        self.counters = counters
        self.transactionCallTimeout = transactionCallTimeout
    }

    /// A checkpoint's transaction is pending (pre-committed, waiting for its commit) besides the open one.
    var commitPending: Bool { pool.busySlots.count > 1 }

    func beginTransaction(checkpointId: Int64) throws(KafkaSinkError) -> KafkaSinkTransaction {
        let slot = try pool.lease(for: checkpointId)
        do throws(KafkaSinkError) {
            let producer = try pool.producer(slot)
            do {
                try producer.beginTransaction()
            } catch {
                throw .kafka(error, context: "beginning a transaction on '\(producer.transactionalId)'")
            }
        } catch {
            pool.release(slot)
            throw error
        }
        return KafkaSinkTransaction(slot: slot, transactionalId: pool.transactionalId(slot: slot), checkpointId: checkpointId)
    }

    func write(_ record: ProducerRecord, to transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) {
        try produce(record, slot: transaction.slot)
        transaction.records += 1
    }

    /// Hands a record to the slot's producer without counting it (the caller counted it).
    func produce(_ record: ProducerRecord, slot: Int) throws(KafkaSinkError) {
        let producer = try pool.producer(slot)
        do {
            try producer.produce(record)
        } catch {
            throw .kafka(error, context: "writing to '\(record.topic)'")
        }
    }

    func preCommit(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) -> KafkaCommitter.PreCommitted? {
        let producer = try pool.producer(transaction.slot)
        if transaction.records == 0 {
            // Nothing was written: ending it costs no broker round trip, and nobody needs to commit it.
            try? producer.abortTransaction(timeout: transactionCallTimeout)
            pool.release(transaction.slot)
            return nil
        }
        let flushStart = ContinuousClock.now
        do {
            try producer.flush(timeout: .seconds(60))
        } catch {
            throw .kafka(error, context: "flushing the transaction of checkpoint \(transaction.checkpointId)")
        }
        let flushMillis = KafkaCommitter.millis(since: flushStart)
        let failures = producer.drainDeliveryReports().filter { !$0.isSuccess }
        if !failures.isEmpty {
            throw .deliveryFailed(count: failures.count, first: failures.first?.error)
        }
        let identity: ProducerIdAndEpoch
        do {
            identity = try producer.producerIdAndEpoch(timeout: .seconds(10))
        } catch {
            throw .kafka(error, context: "reading the producer id and epoch of '\(producer.transactionalId)'")
        }
        let committable = TransactionCommittable(
            transactionalId: producer.transactionalId, producerId: identity.producerId, epoch: identity.epoch,
            firstOffsets: producer.currentTransactionFirstOffsets)
        return KafkaCommitter.PreCommitted(
            committable: committable, slot: transaction.slot, records: transaction.records, flushMillis: flushMillis)
    }

    func abort(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) {
        defer { pool.release(transaction.slot) }
        guard let producer = pool.existingProducer(transaction.slot) else { return }
        do {
            try producer.abortTransaction(timeout: transactionCallTimeout)
            counters.aborts?.increment()
        } catch {
            throw .kafka(error, context: "aborting '\(transaction.transactionalId)'")
        }
    }

    func didCommit() throws(KafkaSinkError) {}
}
