import SluiceKafkaWire

/// Reads one partition as read_committed defines it, batch by batch as fetches bring them, and
/// honours the COMMIT/ABORT markers itself (brokers that show aborted records to read_committed
/// consumers exist: the embedded one). Records are released in offset order and never past the
/// first transaction still open (the last stable offset), so `position` — the offset below which
/// everything was released or skipped — is a position a restore can resume from without
/// repeating or skipping a record.
struct CommittedPartitionCursor {
    /// The next offset to release; what a checkpoint keeps.
    private(set) var position: Int64
    /// The next offset to fetch (at or above `position`).
    private(set) var fetchOffset: Int64
    /// Fetched batches not yet released, in offset order.
    private var pending: [RecordBatch] = []
    private var pendingHead = 0
    /// Markers seen in the fetched span, per producer id, in offset order.
    private var markers: [Int64: [(offset: Int64, commit: Bool)]] = [:]

    init(position: Int64) {
        self.position = position
        self.fetchOffset = position
    }

    /// Takes the batches of one fetch (in offset order; anything below `fetchOffset` is ignored).
    mutating func add(_ batches: [RecordBatch]) {
        for batch in batches where batch.lastOffset >= fetchOffset {
            fetchOffset = batch.lastOffset + 1
            if batch.isControl {
                if let type = batch.controlType {
                    markers[batch.producerId, default: []].append((batch.baseOffset, type == .commit))
                }
            }
            pending.append(batch)
        }
    }

    /// True while fetched batches wait behind an open transaction or for release.
    var hasPending: Bool { pendingHead < pending.count }

    /// Releases the records that are decided, in offset order, up to the first open transaction:
    /// calls `release` for each committed or non-transactional record at or above `position`.
    mutating func release(_ deliver: (Record) throws -> Void) rethrows {
        while pendingHead < pending.count {
            let batch = pending[pendingHead]
            if batch.isControl {
                position = max(position, batch.lastOffset + 1)
                pendingHead += 1
                continue
            }
            if batch.isTransactional {
                guard let committed = outcome(of: batch) else { break }  // still open: the last stable offset
                if committed {
                    for record in batch.records where record.offset >= position { try deliver(record) }
                }
            } else {
                for record in batch.records where record.offset >= position { try deliver(record) }
            }
            position = max(position, batch.lastOffset + 1)
            pendingHead += 1
        }
        compact()
    }

    /// Whether the transaction `batch` belongs to committed (nil: no marker yet).
    private func outcome(of batch: RecordBatch) -> Bool? {
        markers[batch.producerId]?.first(where: { $0.offset > batch.lastOffset })?.commit
    }

    private mutating func compact() {
        if pendingHead > 256 || pendingHead == pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        for (producer, list) in markers {
            let kept = list.filter { $0.offset >= position }
            if kept.isEmpty { markers[producer] = nil } else if kept.count != list.count { markers[producer] = kept }
        }
    }
}
