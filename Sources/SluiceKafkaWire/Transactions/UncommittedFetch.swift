extension KafkaWireClient {
    /// One Fetch at READ_UNCOMMITTED of `partitions` of `topic` from their leader: the raw answer,
    /// whose batches the caller decodes and to which it applies read_committed from the log's
    /// markers itself (`TransactionAwareLogReader`, the repartition source). A failed send drops the
    /// connection, so the next fetch opens a fresh one.
    package func fetchUncommitted(
        _ topic: String, _ partitions: [FetchRequest.Partition], from leader: BrokerAddress,
        maxWait: Duration, maxBytes: Int32
    ) throws -> FetchResponse {
        let connection = try connection(to: leader)
        let request = FetchRequest(
            version: try connection.version(for: FetchRequest.self),
            maxWaitMs: Int32(clamping: Int64((maxWait / .milliseconds(1)).rounded())), minBytes: 1, maxBytes: maxBytes,
            isolationLevel: .readUncommitted, topics: [(topic, partitions)])
        do {
            return try connection.send(request)
        } catch {
            discardConnection(to: leader)
            throw error
        }
    }
}
