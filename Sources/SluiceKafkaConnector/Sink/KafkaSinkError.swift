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
    case kafka(KafkaError, context: String)

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
            return "All \(size) transactional producers of this subtask hold transactions waiting for checkpoints \(pending) "
                + "to complete. Checkpoints are failing or slow; raise producerPoolSize or fix the checkpoints."
        case .deliveryFailed(let count, let first):
            return "\(count) records of the transaction were not delivered (first: \(first.map { "\($0)" } ?? "unknown")); "
                + "the transaction is aborted and the job restarts from its last checkpoint."
        case .recoveryFailed(let id, let outcome):
            return "Could not commit the recovered transaction '\(id)': \(outcome). The job retries on restart; check the broker."
        case .kafka(let error, let context):
            return "\(context): \(error)"
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
