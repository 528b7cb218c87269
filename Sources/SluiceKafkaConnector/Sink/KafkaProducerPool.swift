/// The producers of one exactly-once sink subtask, one per slot of its transactional-id pool, and
/// which checkpoint's transaction each slot holds. A slot is busy from `lease` (its transaction
/// opens) until `release` (committed, aborted, or empty); a pre-committed transaction keeps its slot
/// busy until its checkpoint completes, so at most `size - 1` checkpoints may wait for completion.
/// Used on the sink subtask's thread only.
final class KafkaProducerPool {
    let ids: KafkaTransactionalIdPool
    let subtask: Int
    private let factory: any TransactionalProducerFactory
    private var producers: [(any TransactionalProducerClient)?]
    /// Slot → checkpoint whose transaction it holds (open or pre-committed); absent = idle.
    private(set) var busySlots: [Int: Int64] = [:]

    init(ids: KafkaTransactionalIdPool, subtask: Int, factory: any TransactionalProducerFactory) {
        self.ids = ids
        self.subtask = subtask
        self.factory = factory
        self.producers = Array(repeating: nil, count: ids.size)
    }

    var size: Int { ids.size }

    /// Slots without a producer yet (recovery initialises them all at once).
    var emptySlots: [Int] { (0..<size).filter { producers[$0] == nil } }

    func transactionalId(slot: Int) -> String { ids.id(subtask: subtask, slot: slot) }

    /// The slot of `transactionalId` if this subtask owns it and it holds a transaction.
    func busySlot(of id: String) -> Int? {
        (0..<size).first { busySlots[$0] != nil && transactionalId(slot: $0) == id && producers[$0] != nil }
    }

    /// The slot's producer, created (and initialised) on first use.
    func producer(_ slot: Int) throws(KafkaSinkError) -> any TransactionalProducerClient {
        if let producer = producers[slot] { return producer }
        let made = try factory.makeInitialisedProducer(transactionalId: transactionalId(slot: slot))
        producers[slot] = made
        return made
    }

    /// The slot's producer if it has one (no producer is made).
    func existingProducer(_ slot: Int) -> (any TransactionalProducerClient)? { producers[slot] }

    func install(_ producer: any TransactionalProducerClient, slot: Int) { producers[slot] = producer }

    /// An idle slot for checkpoint `checkpointId`'s transaction.
    func lease(for checkpointId: Int64) throws(KafkaSinkError) -> Int {
        guard let slot = (0..<size).first(where: { busySlots[$0] == nil }) else {
            throw .producerPoolExhausted(poolSize: size, pendingCheckpoints: busySlots.values.sorted())
        }
        busySlots[slot] = checkpointId
        return slot
    }

    func checkpoint(heldBy slot: Int) -> Int64? { busySlots[slot] }

    func release(_ slot: Int) { busySlots[slot] = nil }

    /// Closes every producer. Pre-committed transactions stay open on the broker: the checkpoint
    /// that holds their committables commits them on restore.
    func closeAll() {
        for producer in producers { producer?.close() }
        producers = Array(repeating: nil, count: size)
        busySlots.removeAll()
    }
}
