/// A Kafka protocol error code (the int16 `error_code` of responses), with the names of those this module acts on.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let none = KafkaErrorCode(rawValue: 0)
    public static let unknownServerError = KafkaErrorCode(rawValue: -1)
    public static let offsetOutOfRange = KafkaErrorCode(rawValue: 1)
    public static let corruptMessage = KafkaErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = KafkaErrorCode(rawValue: 3)
    public static let leaderNotAvailable = KafkaErrorCode(rawValue: 5)
    public static let notLeaderOrFollower = KafkaErrorCode(rawValue: 6)
    public static let requestTimedOut = KafkaErrorCode(rawValue: 7)
    public static let networkException = KafkaErrorCode(rawValue: 13)
    public static let coordinatorLoadInProgress = KafkaErrorCode(rawValue: 14)
    public static let coordinatorNotAvailable = KafkaErrorCode(rawValue: 15)
    public static let notCoordinator = KafkaErrorCode(rawValue: 16)
    public static let notEnoughReplicas = KafkaErrorCode(rawValue: 19)
    public static let unsupportedVersion = KafkaErrorCode(rawValue: 35)
    public static let invalidProducerEpoch = KafkaErrorCode(rawValue: 47)
    public static let invalidTxnState = KafkaErrorCode(rawValue: 48)
    public static let invalidProducerIdMapping = KafkaErrorCode(rawValue: 49)
    public static let invalidTransactionTimeout = KafkaErrorCode(rawValue: 50)
    public static let concurrentTransactions = KafkaErrorCode(rawValue: 51)
    public static let transactionCoordinatorFenced = KafkaErrorCode(rawValue: 52)
    public static let transactionalIdAuthorizationFailed = KafkaErrorCode(rawValue: 53)
    public static let kafkaStorageError = KafkaErrorCode(rawValue: 56)
    public static let unknownProducerId = KafkaErrorCode(rawValue: 59)
    public static let fencedLeaderEpoch = KafkaErrorCode(rawValue: 74)
    public static let unknownLeaderEpoch = KafkaErrorCode(rawValue: 75)
    public static let producerFenced = KafkaErrorCode(rawValue: 90)
    public static let transactionalIdNotFound = KafkaErrorCode(rawValue: 105)
    public static let transactionAbortable = KafkaErrorCode(rawValue: 120)

    private static let names: [Int16: String] = [
        0: "NONE", -1: "UNKNOWN_SERVER_ERROR", 1: "OFFSET_OUT_OF_RANGE", 2: "CORRUPT_MESSAGE",
        3: "UNKNOWN_TOPIC_OR_PARTITION", 5: "LEADER_NOT_AVAILABLE", 6: "NOT_LEADER_OR_FOLLOWER",
        7: "REQUEST_TIMED_OUT", 13: "NETWORK_EXCEPTION", 14: "COORDINATOR_LOAD_IN_PROGRESS",
        15: "COORDINATOR_NOT_AVAILABLE", 16: "NOT_COORDINATOR", 19: "NOT_ENOUGH_REPLICAS", 35: "UNSUPPORTED_VERSION",
        47: "INVALID_PRODUCER_EPOCH", 48: "INVALID_TXN_STATE", 49: "INVALID_PRODUCER_ID_MAPPING",
        50: "INVALID_TRANSACTION_TIMEOUT", 51: "CONCURRENT_TRANSACTIONS", 52: "TRANSACTION_COORDINATOR_FENCED",
        53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 56: "KAFKA_STORAGE_ERROR", 59: "UNKNOWN_PRODUCER_ID",
        74: "FENCED_LEADER_EPOCH", 75: "UNKNOWN_LEADER_EPOCH", 90: "PRODUCER_FENCED",
        105: "TRANSACTIONAL_ID_NOT_FOUND", 120: "TRANSACTION_ABORTABLE",
    ]

    /// The protocol's name for the code, e.g. `NOT_COORDINATOR`.
    public var name: String { Self.names[rawValue] ?? "ERROR_\(rawValue)" }
    public var description: String { "\(name) (\(rawValue))" }

    /// Errors the protocol marks retriable: the same request may succeed later, possibly elsewhere.
    public var isRetriable: Bool {
        switch self {
        case .corruptMessage, .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderOrFollower, .requestTimedOut,
             .networkException, .coordinatorLoadInProgress, .coordinatorNotAvailable, .notCoordinator,
             .notEnoughReplicas, .concurrentTransactions, .kafkaStorageError, .fencedLeaderEpoch, .unknownLeaderEpoch:
            return true
        default:
            return false
        }
    }
}
