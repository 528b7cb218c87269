import NIOCore
import NIOPosix
import Synchronization

/// A broker's address.
package struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }

    /// Parses `host:port[,host:port...]`.
    public static func parseList(_ bootstrap: String) throws -> [BrokerAddress] {
        let addresses = try bootstrap.split(separator: ",").map { entry -> BrokerAddress in
            let text = String(entry.filter { !$0.isWhitespace })
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                  (1...65535).contains(port), colon > text.startIndex else {
                throw KafkaWireError.invalidBootstrap(bootstrap)
            }
            return BrokerAddress(host: String(text[..<colon]), port: port)
        }
        guard !addresses.isEmpty else { throw KafkaWireError.invalidBootstrap(bootstrap) }
        return addresses
    }
}

/// Bounded retries with a fixed backoff; `sleep` is injectable so tests never wait.
package struct RetryPolicy: Sendable {
    public var attempts: Int
    public var backoff: Duration
    public var sleep: @Sendable (Duration) -> Void

    public init(attempts: Int = 8, backoff: Duration = .milliseconds(100),
                sleep: @escaping @Sendable (Duration) -> Void = RetryPolicy.blockingSleep) {
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep
    }
}

extension RetryPolicy {
    /// Blocks the calling (dedicated) thread; never call it from an event loop or the cooperative pool.
    public static func blockingSleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }
}

/// The cluster as the wire pieces see it: bootstrap brokers, metadata, and one cached connection per broker.
/// Blocking API for dedicated threads; safe to share between threads (the connection cache is locked).
package final class KafkaWireClient: Sendable {
    public let bootstrap: [BrokerAddress]
    public let options: KafkaConnectionOptions
    public let retry: RetryPolicy
    private let group: any EventLoopGroup
    private let connections = Mutex<[BrokerAddress: KafkaConnection]>([:])

    public init(bootstrap: String, options: KafkaConnectionOptions = KafkaConnectionOptions(),
                retry: RetryPolicy = RetryPolicy(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.bootstrap = try BrokerAddress.parseList(bootstrap)
        self.options = options
        self.retry = retry
        self.group = group
    }

    deinit { close() }

    /// Closes every cached connection.
    public func close() {
        let all = connections.withLock { cache in
            defer { cache.removeAll() }
            return Array(cache.values)
        }
        for connection in all { connection.close() }
    }

    /// A live connection to `address`, reusing the cached one unless the broker closed it.
    public func connection(to address: BrokerAddress) throws -> KafkaConnection {
        if let cached = connections.withLock({ $0[address] }), cached.isActive { return cached }
        let fresh = try KafkaConnection.connect(host: address.host, port: address.port, options: options, group: group)
        let replaced = connections.withLock { cache in
            defer { cache[address] = fresh }
            return cache[address]
        }
        replaced?.close()
        return fresh
    }

    /// Drops a cached connection (after an error that leaves it in doubt).
    public func discardConnection(to address: BrokerAddress) {
        connections.withLock { $0.removeValue(forKey: address) }?.close()
    }

    /// A connection to any bootstrap broker that answers.
    public func anyConnection() throws -> KafkaConnection {
        var lastError: (any Error)?
        for address in bootstrap {
            do { return try connection(to: address) } catch { lastError = error }
        }
        throw lastError ?? KafkaWireError.invalidBootstrap("")
    }

    // MARK: Metadata

    /// Metadata for the named topics (nil: all topics), from any bootstrap broker.
    public func metadata(topics: [String]?) throws -> MetadataResponse {
        let connection = try anyConnection()
        let version = try connection.version(for: MetadataRequest.self)
        return try connection.send(MetadataRequest(version: version, topics: topics))
    }

    /// A topic's partitions with leaders, retrying while the broker reports the topic or its leaders unavailable.
    public func partitions(of topic: String) throws -> (metadata: MetadataResponse, topic: TopicMetadata) {
        var lastCode = KafkaErrorCode.unknownTopicOrPartition
        for attempt in 0..<retry.attempts {
            if attempt > 0 { retry.sleep(retry.backoff) }
            let metadata = try metadata(topics: [topic])
            guard let entry = metadata.topic(topic) else { continue }
            if entry.errorCode == .none, !entry.partitions.isEmpty,
               entry.partitions.allSatisfy({ $0.leaderId >= 0 && metadata.broker($0.leaderId) != nil }) {
                return (metadata, entry)
            }
            lastCode = entry.errorCode
            if entry.errorCode != .none && !entry.errorCode.isRetriable { break }
        }
        if lastCode == .unknownTopicOrPartition || lastCode == .none || lastCode == .leaderNotAvailable {
            throw KafkaWireError.unknownTopicOrPartition(topic: topic, partition: nil)
        }
        throw KafkaWireError.broker(api: MetadataRequest.apiName, code: lastCode, context: "topic \(topic)")
    }

    /// The address of a partition's leader.
    public func leader(of partition: TopicPartition) throws -> BrokerAddress {
        let (metadata, topic) = try partitions(of: partition.topic)
        guard let entry = topic.partitions.first(where: { $0.partition == partition.partition }),
              let broker = metadata.broker(entry.leaderId) else {
            throw KafkaWireError.unknownTopicOrPartition(topic: partition.topic, partition: partition.partition)
        }
        return BrokerAddress(host: broker.host, port: Int(broker.port))
    }

    // MARK: Transactions

    /// One FindCoordinator round for a transactional id. Coordinator errors surface as `KafkaWireError.broker`
    /// so callers decide about retries.
    public func findTransactionCoordinatorOnce(_ transactionalId: String) throws -> BrokerAddress {
        let connection = try anyConnection()
        let version = try connection.version(for: FindCoordinatorRequest.self)
        let response = try connection.send(
            FindCoordinatorRequest(version: version, key: transactionalId, keyType: .transaction))
        guard response.errorCode == .none else {
            throw KafkaWireError.broker(api: FindCoordinatorRequest.apiName, code: response.errorCode,
                                        context: response.errorMessage ?? "transactional id \(transactionalId)")
        }
        return BrokerAddress(host: response.host, port: Int(response.port))
    }

    /// FindCoordinator with bounded retries on COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR and
    /// COORDINATOR_LOAD_IN_PROGRESS.
    public func findTransactionCoordinator(_ transactionalId: String) throws -> BrokerAddress {
        var lastError = ""
        for attempt in 0..<retry.attempts {
            if attempt > 0 { retry.sleep(retry.backoff) }
            do {
                return try findTransactionCoordinatorOnce(transactionalId)
            } catch KafkaWireError.broker(_, let code, let context) where Self.isCoordinatorError(code) {
                lastError = "\(code): \(context)"
            }
        }
        throw KafkaWireError.coordinatorNotFound(transactionalId: transactionalId, attempts: retry.attempts,
                                                 lastError: lastError)
    }

    static func isCoordinatorError(_ code: KafkaErrorCode) -> Bool {
        code == .coordinatorNotAvailable || code == .notCoordinator || code == .coordinatorLoadInProgress
    }

    /// Sends EndTxn to `coordinator` and returns the broker's error code (`.none` on success).
    public func endTransaction(coordinator: BrokerAddress, transactionalId: String, producerId: Int64,
                               producerEpoch: Int16, commit: Bool) throws -> KafkaErrorCode {
        let connection = try connection(to: coordinator)
        let version = try connection.version(for: EndTxnRequest.self)
        do {
            let response = try connection.send(EndTxnRequest(
                version: version, transactionalId: transactionalId, producerId: producerId,
                producerEpoch: producerEpoch, committed: commit))
            return response.errorCode
        } catch {
            discardConnection(to: coordinator)
            throw error
        }
    }
}
