import Logging

/// How a transaction ended.
package enum TransactionResolution: String, Sendable, Hashable {
    case committed
    case aborted
}

/// The outcome of `TransactionResolver.commit` / `abort`.
package enum TransactionOutcome: Sendable, Equatable, CustomStringConvertible {
    /// EndTxn(commit) succeeded.
    case committed
    /// EndTxn(abort) succeeded.
    case aborted
    /// The log shows the transaction already ended this way; nothing was sent (or the broker's refusal was
    /// confirmed by the log).
    case alreadyResolved(TransactionResolution)
    /// The producer id or epoch is no longer current (a newer producer initialised the transactional id)
    /// and the log does not show the transaction committed: its data will never become visible.
    case fenced(String)
    /// The outcome cannot be determined (e.g. the coordinator closed the connection, which some brokers do on a
    /// wrong producer id or epoch): inspect the log, or retry later.
    case unknown(String)
    /// The coordinator kept moving within the retry budget: retry later.
    case coordinatorMoved(String)
    /// A transient failure (timeout, refused connection, concurrent transactions): retry later.
    case retriable(KafkaWireError)

    public var description: String {
        switch self {
        case .committed: "committed"
        case .aborted: "aborted"
        case .alreadyResolved(let resolution): "already \(resolution.rawValue)"
        case .fenced(let why): "fenced: \(why)"
        case .unknown(let why): "unknown: \(why)"
        case .coordinatorMoved(let why): "coordinator moved: \(why)"
        case .retriable(let error): "retriable: \(error)"
        }
    }
}

/// What the resolver needs from a cluster; the real one talks to brokers, tests script one.
package protocol TransactionResolverBackend: Sendable {
    /// One FindCoordinator round; coordinator errors as `KafkaWireError.broker`.
    func findCoordinator(transactionalId: String) throws -> BrokerAddress
    /// One EndTxn; returns the broker's error code.
    func endTransaction(coordinator: BrokerAddress, _ committable: TransactionCommittable, commit: Bool) throws -> KafkaErrorCode
    /// The first control marker of `partition` at or after `offset` that `matches` (nil: none up to its
    /// current end); reads no further than that marker.
    func firstMarker(in partition: TopicPartition, from offset: Int64,
                     where matches: @escaping @Sendable (ControlMarker) -> Bool) throws -> ControlMarker?
}

/// The backend over a `KafkaWireClient` and a `TransactionAwareLogReader`.
package struct KafkaTransactionResolverBackend: TransactionResolverBackend {
    public let client: KafkaWireClient
    private let reader: TransactionAwareLogReader

    public init(client: KafkaWireClient) {
        self.client = client
        self.reader = TransactionAwareLogReader(client: client, options: LogReadOptions(retainRecords: false))
    }

    public func findCoordinator(transactionalId: String) throws -> BrokerAddress {
        try client.findTransactionCoordinatorOnce(transactionalId)
    }

    public func endTransaction(coordinator: BrokerAddress, _ committable: TransactionCommittable,
                               commit: Bool) throws -> KafkaErrorCode {
        try client.endTransaction(coordinator: coordinator, transactionalId: committable.transactionalId,
                                  producerId: committable.producerId, producerEpoch: committable.epoch, commit: commit)
    }

    public func firstMarker(in partition: TopicPartition, from offset: Int64,
                            where matches: @escaping @Sendable (ControlMarker) -> Bool) throws -> ControlMarker? {
        try reader.firstMarker(in: partition, from: offset, where: matches)
    }
}

/// Finishes (commits or aborts) a transaction left behind by a producer that is gone, by its
/// (transactional id, producer id, epoch), the way Flink's Kafka sink recovers committables.
///
/// Brokers answer a repeated commit ambiguously (some answer 0, Kafka may answer INVALID_TXN_STATE or
/// PRODUCER_FENCED), so when the committable names its first offsets the resolver reads those partitions
/// first and looks for this producer's marker (epoch >= the committable's, since fencing writes the ABORT
/// with the bumped epoch): found → `.alreadyResolved` without sending EndTxn. Refusals are reported as
/// `.alreadyResolved` only when the log confirms them, otherwise as `.fenced`.
/// Blocking: call it from a dedicated thread.
package final class TransactionResolver: Sendable {
    private let backend: any TransactionResolverBackend
    private let retry: RetryPolicy
    private let logger: Logger

    public init(backend: any TransactionResolverBackend, retry: RetryPolicy = RetryPolicy(),
                logger: Logger = Logger(label: "sluice.kafka-wire.transaction-resolver")) {
        self.backend = backend
        self.retry = retry
        self.logger = logger
    }

    /// A resolver with its own connections to the cluster at `bootstrap`.
    public convenience init(bootstrap: String, options: KafkaConnectionOptions = KafkaConnectionOptions(),
                            retry: RetryPolicy = RetryPolicy()) throws {
        let client = try KafkaWireClient(bootstrap: bootstrap, options: options, retry: retry)
        self.init(backend: KafkaTransactionResolverBackend(client: client), retry: retry)
    }

    public func commit(_ committable: TransactionCommittable) -> TransactionOutcome {
        resolve(committable, commit: true)
    }

    public func abort(_ committable: TransactionCommittable) -> TransactionOutcome {
        resolve(committable, commit: false)
    }

    /// The marker of this transaction in the log, if any; nil when no first offsets are known or none is found.
    public func resolutionInLog(_ committable: TransactionCommittable) throws -> TransactionResolution? {
        for (_, marker) in try markersInLog(committable).sorted(by: { $0.key < $1.key }) {
            if let marker { return marker.type == .commit ? .committed : .aborted }
        }
        return nil
    }

    /// Per partition the committable wrote to: this transaction's marker (its producer id, an epoch
    /// at least the committable's: fencing writes the ABORT with the bumped epoch), or nil while the
    /// log shows none. Each partition is read from the committable's first offset up to that marker only.
    public func markersInLog(_ committable: TransactionCommittable) throws -> [TopicPartition: ControlMarker?] {
        var found: [TopicPartition: ControlMarker?] = [:]
        let producerId = committable.producerId
        let epoch = committable.epoch
        for (partition, firstOffset) in committable.firstOffsets.sorted(by: { $0.key < $1.key }) {
            let marker = try backend.firstMarker(in: partition, from: firstOffset, where: {
                $0.producerId == producerId && $0.producerEpoch >= epoch && $0.offset >= firstOffset
            })
            found[partition] = .some(marker)
        }
        return found
    }

    private func resolve(_ committable: TransactionCommittable, commit: Bool) -> TransactionOutcome {
        let outcome = attemptResolution(committable, commit: commit)
        switch outcome {
        case .committed, .aborted, .alreadyResolved: break
        default:
            logger.warning("transaction not resolved", metadata: [
                "transactional.id": "\(committable.transactionalId)", "producer.id": "\(committable.producerId)",
                "epoch": "\(committable.epoch)", "outcome": "\(outcome)",
            ])
        }
        return outcome
    }

    private func attemptResolution(_ committable: TransactionCommittable, commit: Bool) -> TransactionOutcome {
        let verb = commit ? "commit" : "abort"
        var logMetadata: Logger.Metadata = [
            "transactional.id": "\(committable.transactionalId)", "producer.id": "\(committable.producerId)",
            "epoch": "\(committable.epoch)",
        ]
        do {
            if let resolution = try resolutionInLog(committable) {
                logMetadata["resolution"] = "\(resolution.rawValue)"
                logger.info("transaction already resolved in the log; not sending EndTxn", metadata: logMetadata)
                return .alreadyResolved(resolution)
            }
        } catch KafkaWireError.broker(_, let code, let context) where code == .offsetOutOfRange {
            // The log no longer holds the transaction's first offset (retention or DeleteRecords): no retry
            // brings it back, and EndTxn alone cannot tell whether it was committed.
            return .unknown("the log no longer holds the transaction's first offset (\(context): OFFSET_OUT_OF_RANGE), "
                + "so whether it was committed cannot be read")
        } catch {
            return .retriable(KafkaConnection.mapError(error, host: "?", port: 0, during: "reading the log"))
        }

        var lastCoordinatorProblem: String?
        var lastRetriable: KafkaWireError?
        for attempt in 0..<retry.attempts {
            if attempt > 0 { retry.sleep(retry.backoff) }
            let coordinator: BrokerAddress
            do {
                coordinator = try backend.findCoordinator(transactionalId: committable.transactionalId)
            } catch KafkaWireError.broker(_, let code, let context) where KafkaWireClient.isCoordinatorError(code) {
                lastCoordinatorProblem = "FindCoordinator: \(code) (\(context))"
                continue
            } catch let error as KafkaWireError {
                return .retriable(error)
            } catch {
                return .retriable(.malformed("\(error)"))
            }

            let code: KafkaErrorCode
            do {
                code = try backend.endTransaction(coordinator: coordinator, committable, commit: commit)
            } catch KafkaWireError.connectionClosed(let host, let port, _) {
                // Some brokers close the connection instead of answering a wrong producer id or epoch.
                if let confirmed = confirmedInLog(committable) { return .alreadyResolved(confirmed) }
                return .unknown("the coordinator \(host):\(port) closed the connection on EndTxn(\(verb)); "
                    + "the producer id or epoch is probably stale (fenced), or the broker stopped")
            } catch let error as KafkaWireError {
                return .retriable(error)
            } catch {
                return .retriable(.malformed("\(error)"))
            }

            switch code {
            case .none:
                logger.info("EndTxn(\(verb)) succeeded", metadata: logMetadata)
                return commit ? .committed : .aborted
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
                lastCoordinatorProblem = "EndTxn at \(coordinator): \(code)"
                continue
            case .invalidTxnState, .producerFenced, .invalidProducerEpoch, .invalidProducerIdMapping,
                 .unknownProducerId, .transactionalIdNotFound:
                if let confirmed = confirmedInLog(committable) {
                    logMetadata["code"] = "\(code)"
                    logger.info("EndTxn refused, but the log shows the transaction resolved", metadata: logMetadata)
                    return .alreadyResolved(confirmed)
                }
                return .fenced("EndTxn(\(verb)) answered \(code) and the log does not show this transaction resolved")
            default:
                if code.isRetriable {
                    lastRetriable = .broker(api: EndTxnRequest.apiName, code: code, context: committable.transactionalId)
                    continue
                }
                return .unknown("EndTxn(\(verb)) answered \(code)")
            }
        }
        if let lastRetriable { return .retriable(lastRetriable) }
        return .coordinatorMoved(lastCoordinatorProblem ?? "no coordinator within \(retry.attempts) attempts")
    }

    private func confirmedInLog(_ committable: TransactionCommittable) -> TransactionResolution? {
        (try? resolutionInLog(committable)) ?? nil
    }
}
