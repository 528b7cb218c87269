/// A record visible to a read_committed reader, with the producer that wrote it.
package struct CommittedRecord: Sendable, Hashable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
    /// -1 for records of non-idempotent producers.
    public var producerId: Int64
    public var producerEpoch: Int16
    public var isTransactional: Bool
}

/// A COMMIT or ABORT marker found in the log.
package struct ControlMarker: Sendable, Hashable {
    public var offset: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var type: ControlRecordType

    public init(offset: Int64, producerId: Int64, producerEpoch: Int16, type: ControlRecordType) {
        self.offset = offset
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.type = type
    }
}

/// How a transaction seen in a partition ended (so far).
package enum TransactionState: String, Sendable, Hashable {
    case committed
    case aborted
    /// No marker yet: the transaction is still running, or its producer died and nobody resolved it.
    case open
}

/// One transaction of one producer in one partition, as the log shows it.
package struct TransactionSummary: Sendable, Hashable {
    public var producerId: Int64
    public var producerEpoch: Int16
    /// Offset of its first data record (at or after the read's start offset).
    public var firstOffset: Int64
    /// Offset of its last data record.
    public var lastOffset: Int64
    public var recordCount: Int
    public var state: TransactionState
    /// Offset of the marker that ended it; nil while open.
    public var markerOffset: Int64?
}

/// The protocol's read_committed rule applied to a partition's batches, in offset order:
/// non-transactional records are visible; records of a transactional batch become visible only when the
/// next control marker of the same producer id in this partition is COMMIT; ABORT hides them; with no
/// marker yet they are pending (open transaction) and hidden. Brokers' own read_committed filtering is
/// not trusted (some return no aborted-transaction list, so their consumers see aborted data).
package struct ReadCommittedAccumulator: Sendable {
    /// Records below this offset are ignored (a fetch may return a batch that starts earlier).
    public let startOffset: Int64
    /// Records at or above this offset are ignored.
    public let endOffset: Int64
    /// False keeps only transactions and markers (cheaper when only looking for markers).
    public let retainRecords: Bool

    private var records: [(record: CommittedRecord, transaction: Int?)] = []
    private var openTransactionByProducer: [Int64: Int] = [:]
    public private(set) var transactions: [TransactionSummary] = []
    public private(set) var markers: [ControlMarker] = []
    /// The offset after the last batch consumed: where the next fetch starts.
    public private(set) var nextOffset: Int64

    public init(startOffset: Int64 = 0, endOffset: Int64 = .max, retainRecords: Bool = true) {
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.retainRecords = retainRecords
        self.nextOffset = startOffset
    }

    /// Consumes one batch. Batches must arrive in offset order; a batch already consumed is ignored.
    public mutating func add(_ batch: RecordBatch) {
        guard batch.lastOffset >= nextOffset else { return }
        nextOffset = batch.lastOffset + 1
        if batch.isControl {
            guard let type = batch.controlType, batch.baseOffset >= startOffset, batch.baseOffset < endOffset else { return }
            markers.append(ControlMarker(offset: batch.baseOffset, producerId: batch.producerId,
                                         producerEpoch: batch.producerEpoch, type: type))
            if let index = openTransactionByProducer.removeValue(forKey: batch.producerId) {
                transactions[index].state = type == .commit ? .committed : .aborted
                transactions[index].markerOffset = batch.baseOffset
            }
            return
        }
        let inRange = batch.records.filter { $0.offset >= startOffset && $0.offset < endOffset }
        guard let first = inRange.first, let last = inRange.last else { return }
        var transaction: Int?
        if batch.isTransactional {
            if let index = openTransactionByProducer[batch.producerId] {
                transactions[index].lastOffset = last.offset
                transactions[index].recordCount += inRange.count
                transaction = index
            } else {
                transactions.append(TransactionSummary(
                    producerId: batch.producerId, producerEpoch: batch.producerEpoch, firstOffset: first.offset,
                    lastOffset: last.offset, recordCount: inRange.count, state: .open, markerOffset: nil))
                openTransactionByProducer[batch.producerId] = transactions.count - 1
                transaction = transactions.count - 1
            }
        }
        guard retainRecords else { return }
        for record in inRange {
            records.append((CommittedRecord(
                offset: record.offset, timestamp: record.timestamp, key: record.key, value: record.value,
                headers: record.headers, producerId: batch.producerId, producerEpoch: batch.producerEpoch,
                isTransactional: batch.isTransactional), transaction))
        }
    }

    /// Records visible under read_committed so far (decided transactions only), in offset order.
    public var committedRecords: [CommittedRecord] {
        records.compactMap { entry in
            guard let index = entry.transaction else { return entry.record }
            return transactions[index].state == .committed ? entry.record : nil
        }
    }

    /// The last stable offset as read_committed defines it: the first offset of the earliest open transaction,
    /// or `nextOffset` when none is open.
    public var lastStableOffset: Int64 {
        transactions.filter { $0.state == .open }.map(\.firstOffset).min() ?? nextOffset
    }
}
