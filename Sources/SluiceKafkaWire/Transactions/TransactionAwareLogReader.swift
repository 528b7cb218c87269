import Logging

/// What a transaction-aware read of one partition found.
package struct PartitionLog: Sendable {
    public var topicPartition: TopicPartition
    public var startOffset: Int64
    /// Exclusive: everything below it (from `startOffset`) was read.
    public var endOffset: Int64
    /// As the broker reported them on the last fetch.
    public var highWatermark: Int64
    public var brokerLastStableOffset: Int64
    /// Visible under read_committed, in offset order (records of open transactions excluded).
    public var committedRecords: [CommittedRecord]
    public var transactions: [TransactionSummary]
    public var markers: [ControlMarker]
    /// First offset of the earliest open transaction, or `endOffset`.
    public var lastStableOffset: Int64

    /// The committed records a read_committed consumer would have been given: those below the last stable offset.
    public var committedRecordsBelowLastStableOffset: [CommittedRecord] {
        committedRecords.filter { $0.offset < lastStableOffset }
    }

    public var openTransactions: [TransactionSummary] { transactions.filter { $0.state == .open } }
}

/// What a transaction-aware read of a whole topic found, per partition.
package struct TopicLog: Sendable {
    public var topic: String
    public var partitions: [PartitionLog]

    public var committedRecords: [CommittedRecord] { partitions.flatMap(\.committedRecords) }
    public var transactions: [TransactionSummary] { partitions.flatMap(\.transactions) }
}

/// Bounds of a log read.
package struct LogReadOptions: Sendable {
    /// Upper bound of one Fetch response.
    public var maxBytesPerFetch: Int32
    /// Starting per-partition bound; doubled (up to `maxBytesPerFetch`) when one batch does not fit.
    public var partitionMaxBytes: Int32
    /// How long the broker may hold a fetch that has no data.
    public var maxWait: Duration
    public var verifyCRC: Bool
    /// Fetches in a row without progress before giving up with `fetchStalled`.
    public var maxFetchesWithoutProgress: Int
    /// False: keep only transactions and markers.
    public var retainRecords: Bool

    public init(maxBytesPerFetch: Int32 = 64 * 1024 * 1024, partitionMaxBytes: Int32 = 4 * 1024 * 1024,
                maxWait: Duration = .milliseconds(50), verifyCRC: Bool = true, maxFetchesWithoutProgress: Int = 20,
                retainRecords: Bool = true) {
        self.maxBytesPerFetch = maxBytesPerFetch
        self.partitionMaxBytes = partitionMaxBytes
        self.maxWait = maxWait
        self.verifyCRC = verifyCRC
        self.maxFetchesWithoutProgress = maxFetchesWithoutProgress
        self.retainRecords = retainRecords
    }
}

/// Reads partitions with Fetch at READ_UNCOMMITTED, decodes the record batches itself, and applies
/// read_committed per producer id from the COMMIT/ABORT markers in the log. It is the oracle of the
/// exactly-once tests and a tool to inspect a topic's transactions. Blocking: call it from a dedicated thread.
package final class TransactionAwareLogReader: Sendable {
    public let client: KafkaWireClient
    public let options: LogReadOptions
    private let logger: Logger

    public init(client: KafkaWireClient, options: LogReadOptions = LogReadOptions(),
                logger: Logger = Logger(label: "sluice.kafka-wire.log-reader")) {
        self.client = client
        self.options = options
        self.logger = logger
    }

    /// A reader with its own connections; `connection` carries the cluster's TLS and SASL settings.
    public convenience init(bootstrap: String, options: LogReadOptions = LogReadOptions(),
                            connection: KafkaConnectionOptions = KafkaConnectionOptions()) throws {
        self.init(client: try KafkaWireClient(bootstrap: bootstrap, options: connection), options: options)
    }

    /// Reads every partition of a topic from `startOffset` to each partition's high watermark.
    public func readTopic(_ topic: String, from startOffset: Int64 = 0) throws -> TopicLog {
        let (_, metadata) = try client.partitions(of: topic)
        let partitions = try metadata.partitions.map {
            try readPartition(TopicPartition(topic, $0.partition), from: startOffset)
        }
        return TopicLog(topic: topic, partitions: partitions)
    }

    /// Reads one partition from `startOffset` up to `endOffset` (exclusive), by default the high watermark
    /// of the first fetch, looping over as many fetches as needed.
    public func readPartition(_ partition: TopicPartition, from startOffset: Int64 = 0,
                              to endOffset: Int64? = nil) throws -> PartitionLog {
        try read(partition, from: startOffset, to: endOffset, until: nil)
    }

    /// The first control marker at or after `startOffset` that `matches`, or nil when there is none up
    /// to the high watermark: reads batch by batch and stops at it, so finding a transaction's outcome
    /// costs the transaction's own span of the log, not the whole partition. A start offset the log no
    /// longer holds fails with the broker's OFFSET_OUT_OF_RANGE (not retried: it will not come back).
    public func firstMarker(in partition: TopicPartition, from startOffset: Int64,
                            where matches: @escaping @Sendable (ControlMarker) -> Bool) throws -> ControlMarker? {
        try readPartition(partition, from: startOffset, untilMarker: matches).markers.first(where: matches)
    }

    /// Reads one partition from `startOffset` up to and including the first control marker that
    /// `matches` (or up to the high watermark when there is none): `endOffset` of the result tells how far.
    package func readPartition(_ partition: TopicPartition, from startOffset: Int64,
                               untilMarker matches: @escaping @Sendable (ControlMarker) -> Bool) throws -> PartitionLog {
        try read(partition, from: startOffset, to: nil, until: matches)
    }

    private func read(_ partition: TopicPartition, from startOffset: Int64, to endOffset: Int64?,
                      until stop: (@Sendable (ControlMarker) -> Bool)?) throws -> PartitionLog {
        var leader = try client.leader(of: partition)
        var end = endOffset
        var accumulator: ReadCommittedAccumulator?
        var highWatermark: Int64 = -1
        var brokerLastStable: Int64 = -1
        var partitionMaxBytes = min(options.partitionMaxBytes, options.maxBytesPerFetch)
        var withoutProgress = 0
        var offset = startOffset

        while true {
            let response: FetchResponse.Partition
            do {
                response = try fetch(partition, at: offset, from: leader, partitionMaxBytes: partitionMaxBytes)
            } catch KafkaWireError.broker(_, let code, _) where code.isRetriable {
                withoutProgress += 1
                guard withoutProgress <= options.maxFetchesWithoutProgress else { throw stalled(partition, offset, highWatermark) }
                client.retry.sleep(client.retry.backoff)
                leader = try client.leader(of: partition)
                continue
            }
            highWatermark = response.highWatermark
            brokerLastStable = response.lastStableOffset
            let bound = end ?? highWatermark
            end = bound
            if accumulator == nil {
                accumulator = ReadCommittedAccumulator(startOffset: startOffset, endOffset: bound,
                                                       retainRecords: options.retainRecords)
            }
            guard var current = accumulator else { continue }
            if offset >= bound { break }

            let decoded = try response.records.map { try RecordBatch.decodeAll($0, verifyCRC: options.verifyCRC) }
                ?? DecodedRecordSet(batches: [], truncatedTailBytes: 0)
            var found = false
            for batch in decoded.batches {
                let markersBefore = current.markers.count
                current.add(batch)
                if let stop, current.markers.count > markersBefore, let marker = current.markers.last, stop(marker) {
                    found = true
                    break
                }
            }
            accumulator = current
            if found {
                end = current.nextOffset
                break
            }
            if current.nextOffset > offset {
                offset = current.nextOffset
                withoutProgress = 0
                continue
            }
            // No whole batch: either the next one is larger than the partition bound, or nothing came back yet.
            withoutProgress += 1
            guard withoutProgress <= options.maxFetchesWithoutProgress else { throw stalled(partition, offset, highWatermark) }
            if decoded.truncatedTailBytes > 0 {
                guard partitionMaxBytes < options.maxBytesPerFetch else { throw stalled(partition, offset, highWatermark) }
                partitionMaxBytes = Int32(min(Int64(partitionMaxBytes) * 2, Int64(options.maxBytesPerFetch)))
                logger.debug("a batch does not fit; raising the partition fetch bound",
                             metadata: ["partition": "\(partition)", "bytes": "\(partitionMaxBytes)"])
            }
        }
        let result = accumulator ?? ReadCommittedAccumulator(startOffset: startOffset, endOffset: startOffset)
        return PartitionLog(
            topicPartition: partition, startOffset: startOffset, endOffset: max(startOffset, end ?? startOffset),
            highWatermark: highWatermark, brokerLastStableOffset: brokerLastStable,
            committedRecords: result.committedRecords, transactions: result.transactions, markers: result.markers,
            lastStableOffset: min(result.lastStableOffset, max(startOffset, end ?? startOffset)))
    }

    /// The first offset the broker still holds at or after `offset`: the base offset of the first
    /// record batch a fetch at `offset` returns (a batch that holds `offset` starts at or below it;
    /// control and aborted batches count, so transaction markers never make a gap), or the log start
    /// the broker reports; nil when the fetch returned no batch (nothing at or after `offset`).
    /// A result above `offset` means the log no longer has that offset, whatever the broker says.
    public func firstOffsetHeld(in partition: TopicPartition, at offset: Int64) throws -> Int64? {
        let leader = try client.leader(of: partition)
        let response = try fetch(partition, at: offset, from: leader, partitionMaxBytes: options.partitionMaxBytes)
        let decoded = try response.records.map { try RecordBatch.decodeAll($0, verifyCRC: options.verifyCRC) }
        if let first = decoded?.batches.first { return first.baseOffset }
        return response.logStartOffset > offset ? response.logStartOffset : nil
    }

    private func stalled(_ partition: TopicPartition, _ offset: Int64, _ highWatermark: Int64) -> KafkaWireError {
        .fetchStalled(topic: partition.topic, partition: partition.partition, offset: offset, highWatermark: highWatermark)
    }

    private func fetch(_ partition: TopicPartition, at offset: Int64, from leader: BrokerAddress,
                       partitionMaxBytes: Int32) throws -> FetchResponse.Partition {
        let response = try client.fetchUncommitted(
            partition.topic, [FetchRequest.Partition(partition: partition.partition, fetchOffset: offset, maxBytes: partitionMaxBytes)],
            from: leader, maxWait: options.maxWait, maxBytes: options.maxBytesPerFetch)
        guard response.errorCode == .none else {
            throw KafkaWireError.broker(api: FetchRequest.apiName, code: response.errorCode, context: "\(partition)")
        }
        guard let entry = response.partition(partition.topic, partition.partition) else {
            throw KafkaWireError.malformed("a Fetch response without \(partition)")
        }
        guard entry.errorCode == .none else {
            if entry.errorCode == .unknownTopicOrPartition {
                throw KafkaWireError.unknownTopicOrPartition(topic: partition.topic, partition: partition.partition)
            }
            throw KafkaWireError.broker(api: FetchRequest.apiName, code: entry.errorCode, context: "\(partition) at offset \(offset)")
        }
        return entry
    }
}
