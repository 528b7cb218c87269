import Foundation

/// Who wrote a checkpoint or savepoint: the job's id (kept across restores, new on a fresh start)
/// and the transactional-id prefix its exactly-once sinks used. A restored job must keep the
/// prefix: the checkpoint's transactions, and those a crashed run left open, are found by it.
package struct CheckpointOwner: Sendable, Equatable {
    package let jobId: String
    package let transactionalIdPrefix: String?

    package init(jobId: String, transactionalIdPrefix: String?) {
        self.jobId = jobId
        self.transactionalIdPrefix = transactionalIdPrefix
    }

    /// The owner of the checkpoints a run writes: the restored snapshot's job id (or `freshJobId`
    /// when there is none, or it predates owners) and this job's prefix. Throws when the snapshot
    /// was written under another prefix and the configuration does not allow the change.
    package static func continuing(
        _ restored: CheckpointMetadata?, configuration: RuntimeConfiguration, freshJobId: String
    ) throws(CheckpointOwnershipError) -> CheckpointOwner {
        let current = configuration.transactionalIdPrefix
        if let restored, let recorded = restored.owner?.transactionalIdPrefix, let current, recorded != current,
           !configuration.allowTransactionalIdPrefixChange {
            throw .transactionalIdPrefixChanged(
                snapshot: "\(restored.kind) \(restored.checkpointId)", jobId: restored.owner?.jobId ?? "unknown",
                recorded: recorded, current: current)
        }
        return CheckpointOwner(jobId: restored?.owner?.jobId ?? freshJobId, transactionalIdPrefix: current)
    }
}

/// A snapshot this job must not restore as it is configured.
public enum CheckpointOwnershipError: Error, CustomStringConvertible, Equatable {
    case transactionalIdPrefixChanged(snapshot: String, jobId: String, recorded: String, current: String)

    public var description: String {
        switch self {
        case .transactionalIdPrefixChanged(let snapshot, let jobId, let recorded, let current):
            return "Refusing to restore \(snapshot): it was written under the transactional-id prefix '\(recorded)' (job \(jobId)), "
                + "and this job's prefix is '\(current)'. Its transactions, and any a crashed run left open, are found by their "
                + "prefix: under '\(current)' they would never be committed or aborted. Start with --transactional-id-prefix "
                + "\(recorded), or pass --allow-transactional-id-prefix-change to restore under '\(current)' anyway."
        }
    }
}
