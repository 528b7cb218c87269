/// Records a restored checkpoint promised that its sink can no longer commit: for example the
/// broker aborted the transaction because the job was down longer than the transaction timeout.
public struct LostOutputRange: Sendable, Codable, Hashable, CustomStringConvertible {
    /// Where the records went, in the sink's words (e.g. `clicks-output/1`).
    public var partition: String
    /// First offset of the lost records.
    public var firstOffset: Int64
    /// Where the lost records end (exclusive; the sink's abort marker), when the sink knows it.
    public var endOffset: Int64?
    /// The checkpoint whose transaction it was.
    public var checkpointId: Int64
    /// The sink's name for the transaction (e.g. its transactional id and producer).
    public var transaction: String

    public init(partition: String, firstOffset: Int64, endOffset: Int64?, checkpointId: Int64, transaction: String) {
        self.partition = partition
        self.firstOffset = firstOffset
        self.endOffset = endOffset
        self.checkpointId = checkpointId
        self.transaction = transaction
    }

    public var description: String {
        let range = endOffset.map { "offsets \(firstOffset)..<\($0)" } ?? "offsets from \(firstOffset)"
        return "\(partition) \(range) (checkpoint \(checkpointId), \(transaction))"
    }
}

/// What became of a transaction a restored checkpoint promised, as its sink finds it before
/// committing anything (see `TwoPhaseCommitSink.restoredTransactionState`).
public enum RestoredTransactionState: Sendable, Equatable {
    /// Committed already (the log shows it).
    case committed
    /// Still open, or its outcome cannot be read: `recoverAndCommit` commits it.
    case pending
    /// Aborted: its records will never be visible.
    case lost([LostOutputRange])
}

/// What a job does when a restored checkpoint's transactions were aborted and no rewind can make the
/// output exact (some of its transactions, or newer ones, were committed).
public enum LostTransactionsPolicy: String, Sendable, Codable, CaseIterable {
    /// Fail the job with the list of missing records (the default).
    case fail
    /// Accept the loss: log it, count it, show it in the status, and go on.
    case `continue`
}

/// Thrown by the two-phase-commit sink operator when a restored checkpoint's transactions were
/// aborted. The executor answers it: restore the checkpoint before `rewindBefore` when there is one
/// (none of the lost transactions' checkpoints, nor a newer one, committed anything, so replaying
/// from there gives every record exactly once), else fail (or go on under `LostTransactionsPolicy.continue`).
public struct RestoredTransactionsLost: Error, Sendable, CustomStringConvertible {
    public let restoredCheckpointId: Int64
    public let lost: [LostOutputRange]
    /// The oldest checkpoint with a lost transaction, when nothing of it or of a newer checkpoint was
    /// committed; nil when some was (then no rewind is exact).
    public let rewindBefore: Int64?

    public init(restoredCheckpointId: Int64, lost: [LostOutputRange], rewindBefore: Int64?) {
        self.restoredCheckpointId = restoredCheckpointId
        self.lost = lost
        self.rewindBefore = rewindBefore
    }

    public var description: String {
        "Transactions of checkpoint \(restoredCheckpointId) were aborted by the broker; missing downstream: "
            + lost.map(\.description).joined(separator: "; ")
    }

    /// Why the job stops: the ranges, why no rewind helps, and the choices.
    func failure() -> LostTransactionsFailure {
        let why = rewindBefore == nil
            ? "Other transactions of the same or newer checkpoints were committed, so no restore gives exact output."
            : "None of them was committed, but no earlier checkpoint is kept to replay from (keep at least two checkpoints)."
        return LostTransactionsFailure(description:
            "Checkpoint \(restoredCheckpointId) promised records that the broker aborted (was the job down longer than the "
            + "transaction timeout?); they are missing downstream: \(lost.map(\.description).joined(separator: "; ")). \(why) "
            + "Reprocess the input of the missing ranges, or restart with --on-lost-transactions continue to accept the loss; "
            + "keep the transaction timeout (and the broker's transaction.max.timeout.ms) above the longest outage.")
    }

    /// The lost-transactions error inside `error`, if it is one (tasks wrap what operators throw).
    static func find(in error: any Error) -> RestoredTransactionsLost? {
        if let lost = error as? RestoredTransactionsLost { return lost }
        if let failure = error as? TaskFailure { return find(in: failure.underlying) }
        return nil
    }
}

/// The job's failure when lost transactions cannot be made good (see `RestoredTransactionsLost.failure`).
public struct LostTransactionsFailure: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// What the job did about lost transactions, for `/status`.
public struct LostTransactionsStatus: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
        /// Restored an earlier checkpoint and replayed: the output is exact.
        case rewound
        /// Failed: the records listed are missing.
        case failed
        /// Went on under `--on-lost-transactions continue`: the records listed are missing.
        case continued
    }

    public var action: Action
    /// The checkpoint whose restore found them.
    public var checkpointId: Int64
    /// `rewound`: the checkpoint restored instead.
    public var rewoundTo: Int64?
    public var missing: [LostOutputRange]

    public init(action: Action, checkpointId: Int64, rewoundTo: Int64? = nil, missing: [LostOutputRange]) {
        self.action = action
        self.checkpointId = checkpointId
        self.rewoundTo = rewoundTo
        self.missing = missing
    }
}
