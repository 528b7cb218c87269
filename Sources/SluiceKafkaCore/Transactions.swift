/// The producer id and epoch of a transactional (or idempotent) producer: who wrote a transaction,
/// and what ends it from another connection (EndTxn).
public struct ProducerIdAndEpoch: Sendable, Hashable, Codable {
    public var producerId: Int64
    public var epoch: Int16

    public init(producerId: Int64, epoch: Int16) {
        self.producerId = producerId
        self.epoch = epoch
    }
}

/// What a two-phase-commit sink keeps in a checkpoint for each pre-committed transaction: enough to
/// finish it from a fresh connection after a crash.
public struct TransactionCommittable: Sendable, Hashable, Codable {
    public var transactionalId: String
    public var producerId: Int64
    public var epoch: Int16
    /// First offset the transaction wrote in each partition, when known: lets the resolver see in the log
    /// whether the transaction was already committed or aborted.
    public var firstOffsets: [TopicPartition: Int64]

    public init(transactionalId: String, producerId: Int64, epoch: Int16, firstOffsets: [TopicPartition: Int64] = [:]) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.epoch = epoch
        self.firstOffsets = firstOffsets
    }

    /// The producer that wrote the transaction.
    public var producer: ProducerIdAndEpoch { ProducerIdAndEpoch(producerId: producerId, epoch: epoch) }
}
