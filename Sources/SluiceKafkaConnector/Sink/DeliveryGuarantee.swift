/// The Kafka sink's delivery guarantees, as in Flink's KafkaSink.
public enum DeliveryGuarantee: Sendable, Hashable {
    /// Records are sent; nothing waits for them (losses and duplicates possible after a failure).
    case none
    /// Every checkpoint waits until all records are acknowledged: nothing lost, duplicates possible.
    case atLeastOnce
    /// Records are committed in Kafka transactions when the checkpoint completes: exactly once for
    /// read_committed readers. Transactional ids are `<prefix>-<subtask>-<slot>`; the prefix must
    /// be unique per job and stable across restarts (it is how a restarted job finds and ends its
    /// old transactions).
    case exactlyOnce(prefix: String)

    /// The guarantee named `name` ("none", "atLeastOnce" or "exactlyOnce", as command lines spell
    /// them); `transactionalIdPrefix` is used for exactly-once only. Nil for any other name.
    public init?(name: String, transactionalIdPrefix: String) {
        switch name {
        case "none": self = .none
        case "atLeastOnce": self = .atLeastOnce
        case "exactlyOnce": self = .exactlyOnce(prefix: transactionalIdPrefix)
        default: return nil
        }
    }

    /// "none", "atLeastOnce" or "exactlyOnce".
    public var name: String {
        switch self {
        case .none: "none"
        case .atLeastOnce: "atLeastOnce"
        case .exactlyOnce: "exactlyOnce"
        }
    }

    /// The transactional-id prefix of `.exactlyOnce`; nil otherwise.
    public var transactionalIdPrefix: String? {
        if case .exactlyOnce(let prefix) = self { return prefix }
        return nil
    }
}
