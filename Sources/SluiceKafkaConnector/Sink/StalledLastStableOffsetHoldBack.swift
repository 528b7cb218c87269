import Metrics
import SluiceKafka

/// A workaround, opt-in (`KafkaSinkConfiguration.holdBackWhileCommitPending`), for brokers whose
/// last stable offset (LSO) of a partition moves only while NO transaction is open on it. The
/// broker the project's tests embed, Tansu, is one (quirk 7 in the project's Kafka facts). Without it, the next
/// checkpoint's transaction opens on a partition a few milliseconds before the previous one commits,
/// so the LSO never catches up under steady input and read_committed readers see nothing for many
/// seconds.
///
/// What it does: while the previous checkpoint's transaction still waits for its commit (between
/// a barrier and the checkpoint's completion), records of the open transaction are held here, up to
/// `limit` records and `byteLimit` bytes (keys, values and headers; gauge
/// `sluice_sink_held_back_bytes`), and handed to the producer right after that commit (or at the
/// barrier). Beyond either limit records go to the producer at once (the LSO then waits, as without
/// the workaround), so memory stays bounded however large the records are. On Apache Kafka
/// it is not needed: the records are invisible until their own commit anyway. Held-back records are
/// lost on failure like the rest of the open transaction: they follow the last checkpoint's barrier,
/// so the source replays them.
final class StalledLastStableOffsetHoldBack: TransactionalRecordWriter {
    private let writer: KafkaTransactionalWriter
    private let limit: Int
    private let byteLimit: Int
    private var heldBack: [ProducerRecord] = []
    private(set) var heldBackBytes = 0
    private let heldBackBytesGauge: Gauge?
    /// Slot of the open transaction.
    private var openSlot: Int?
    static var defaultLimit: Int { 50_000 }

    init(
        decorating writer: KafkaTransactionalWriter, limit: Int = StalledLastStableOffsetHoldBack.defaultLimit,
        byteLimit: Int = KafkaSinkConfiguration.defaultHoldBackMaxBytes, heldBackBytes gauge: Gauge? = nil
    ) {
        self.writer = writer
        self.limit = limit
        self.byteLimit = byteLimit
        self.heldBackBytesGauge = gauge
    }

    var heldBackCount: Int { heldBack.count }

    func beginTransaction(checkpointId: Int64) throws(KafkaSinkError) -> KafkaSinkTransaction {
        let transaction = try writer.beginTransaction(checkpointId: checkpointId)
        openSlot = transaction.slot
        return transaction
    }

    func write(_ record: ProducerRecord, to transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) {
        if writer.commitPending && heldBack.count < limit {
            let size = record.payloadSize
            if heldBackBytes + size <= byteLimit {
                heldBack.append(record)
                heldBackBytes += size
                transaction.records += 1
                // The gauge is set every 1,024 records, not per record: this is the record path.
                if heldBack.count & 1023 == 0 { heldBackBytesGauge?.record(heldBackBytes) }
                return
            }
        }
        try release(to: transaction.slot)
        try writer.write(record, to: &transaction)
    }

    func preCommit(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) -> KafkaCommitter.PreCommitted? {
        openSlot = nil
        try release(to: transaction.slot)
        return try writer.preCommit(&transaction)
    }

    func abort(_ transaction: inout KafkaSinkTransaction) throws(KafkaSinkError) {
        if openSlot == transaction.slot {
            openSlot = nil
            heldBack.removeAll()
            heldBackBytes = 0
            heldBackBytesGauge?.record(0)
        }
        try writer.abort(&transaction)
    }

    /// After a commit: when no earlier transaction is pending any more, the held-back records go out.
    func didCommit() throws(KafkaSinkError) {
        guard !heldBack.isEmpty, !writer.commitPending, let slot = openSlot else { return }
        try release(to: slot)
    }

    private func release(to slot: Int) throws(KafkaSinkError) {
        guard !heldBack.isEmpty else { return }
        let records = heldBack
        heldBack.removeAll(keepingCapacity: true)
        heldBackBytes = 0
        heldBackBytesGauge?.record(0)
        for record in records { try writer.produce(record, slot: slot) }
    }
}
