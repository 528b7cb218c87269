import SluiceKafka
import SluiceRuntime

/// Errors of the Kafka sinks; each says what to do.
public enum KafkaSinkError: Error, CustomStringConvertible {
    case invalidConfiguration(String)
    case transactionTimeoutTooLarge(timeout: Duration, brokerMaximum: Duration)
    case transactionTimeoutTooSmall(timeout: Duration, checkpointInterval: Duration)
    case transactionTimeoutRefusedByBroker(timeout: Duration, KafkaError)
    case producerPoolExhausted(poolSize: Int, pendingCheckpoints: [Int64])
    case deliveryFailed(count: Int, first: KafkaError?)
    case recoveryFailed(transactionalId: String, outcome: String)
    /// The broker aborted a restored transaction while it was being committed.
    case restoredTransactionAborted(transactionalId: String, producer: String)
    /// The log no longer holds a restored transaction's first offset: its outcome cannot be read.
    case transactionLogGone(transactionalId: String, context: String)
    case kafka(KafkaError, context: String)
    /// An output record the sink could not write, under `unwritableRecords` `.fail`.
    case unwritableRecord(UnwritableRecord)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why):
            return "Invalid Kafka sink configuration: \(why)."
        case .transactionTimeoutTooLarge(let timeout, let maximum):
            return "transaction timeout \(timeout) is above the broker's transaction.max.timeout.ms (\(maximum)): the broker "
                + "would refuse it. Lower transactionTimeout, or raise the broker's limit and set brokerMaxTransactionTimeout."
        case .transactionTimeoutTooSmall(let timeout, let interval):
            return "transaction timeout \(timeout) is too close to the checkpoint interval \(interval): a transaction lives "
                + "for an interval and until its checkpoint completes, and must survive a restart. Use at least 2 x interval + 10 s "
                + "(Flink's builder uses 1 hour)."
        case .transactionTimeoutRefusedByBroker(let timeout, let error):
            return "The broker refused transaction timeout \(timeout) (\(error.codeName)): it is above the broker's "
                + "transaction.max.timeout.ms. Lower transactionTimeout or raise the broker's limit."
        case .producerPoolExhausted(let size, let pending):
            return "Checkpoints \(pending) have not completed, and each holds one of this subtask's \(size) transactional producers "
                + "until it does: the checkpoints are failing or slow. The cause is logged before this as 'Checkpoint N aborted: ...' "
                + "(for example the checkpoint directory is full or read-only). Fix that; to ride out more failed checkpoints in a row, "
                + "keep producerPoolSize above the tolerable checkpoint failures + 1."
        case .deliveryFailed(let count, let first):
            return "\(count) records of the transaction were not delivered (first: \(first.map { "\($0)" } ?? "unknown")); "
                + "the transaction is aborted and the job restarts from its last checkpoint."
        case .recoveryFailed(let id, let outcome):
            return "Could not commit the recovered transaction '\(id)': \(outcome). The job retries on restart; check the broker."
        case .restoredTransactionAborted(let id, let producer):
            return "The broker aborted the restored transaction '\(id)' (\(producer)) while it was being committed (its transaction "
                + "timeout expired). The job restarts; the restore then rewinds to an earlier checkpoint or reports the missing records."
        case .transactionLogGone(let id, let context):
            return "Cannot tell whether the restored transaction '\(id)' was committed: the log no longer holds its first offset "
                + "(\(context): OFFSET_OUT_OF_RANGE; retention or DeleteRecords removed it). The checkpoint is too old for its "
                + "output topic's retention: raise retention.ms, or restore a newer checkpoint or savepoint."
        case .kafka(let error, let context):
            return "\(context): \(error)"
        case .unwritableRecord(let record):
            return record.description
        }
    }
}

/// Two of the sink's errors come back on every restart, so the job fails at once: the restore
/// reads the same checkpoint's transaction, whose first offset is still gone from the log, and the
/// replay makes the same unwritable output record from the same input. The others may pass (the
/// broker comes back, a transaction is retried).
extension KafkaSinkError: NonRestartableError {
    public var restartCannotHelp: Bool {
        switch self {
        case .transactionLogGone, .unwritableRecord:
            return true
        case .invalidConfiguration, .transactionTimeoutTooLarge, .transactionTimeoutTooSmall, .transactionTimeoutRefusedByBroker,
             .producerPoolExhausted, .deliveryFailed, .recoveryFailed, .restoredTransactionAborted, .kafka:
            return false
        }
    }
}

/// Another producer initialised one of the sink's transactional ids while the job was running
/// (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, or librdkafka's fatal "fenced" state): another job
/// uses the same transactional-id prefix. Restarting would fence that job in turn, so the job fails
/// at once, whatever its restart strategy.
public struct KafkaSinkFencedError: NonRestartableError, CustomStringConvertible {
    public let transactionalId: String
    public let cause: KafkaError

    public var description: String {
        "The transactional id '\(transactionalId)' was taken over by another producer (\(cause.codeName): \(cause.message)): "
            + "another job uses this job's transactional-id prefix. Two jobs must not share a prefix: stop the other job, or give "
            + "each deployment its own --transactional-id-prefix. This job stops without restarting, so that the two do not "
            + "fence each other in turn."
    }

    /// The fenced error `error` stands for, if it is one.
    static func from(_ error: any Error, transactionalId: String) -> KafkaSinkFencedError? {
        guard case .kafka(let cause, _)? = error as? KafkaSinkError, isFencing(cause) else { return nil }
        return KafkaSinkFencedError(transactionalId: transactionalId, cause: cause)
    }

    static func isFencing(_ error: KafkaError) -> Bool {
        if error.kind == .fenced { return true }
        // A producer in librdkafka's fatal state answers every call with _FATAL; its message names the fencing.
        let text = error.message.lowercased()
        return error.codeName == "_FATAL" && (text.contains("fenced") || text.contains("producer_epoch") || text.contains("producer epoch"))
    }
}
