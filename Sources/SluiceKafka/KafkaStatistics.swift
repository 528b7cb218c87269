/// librdkafka's statistics JSON (see librdkafka's STATISTICS.md), decoded. Every field is optional:
/// which ones appear depends on the client type and librdkafka version. `json` keeps the raw text.
package struct KafkaStatistics: Sendable, Decodable {
    public var name: String?
    public var clientId: String?
    public var type: String?
    /// librdkafka's monotonic clock, microseconds.
    public var ts: Int64?
    /// Wall-clock seconds since the epoch.
    public var time: Int64?
    public var replyq: Int64?
    /// Messages in the producer queues.
    public var msgCnt: Int64?
    public var msgSize: Int64?
    public var tx: Int64?
    public var txBytes: Int64?
    public var rx: Int64?
    public var rxBytes: Int64?
    public var txmsgs: Int64?
    public var txmsgBytes: Int64?
    public var rxmsgs: Int64?
    public var rxmsgBytes: Int64?
    public var brokers: [String: Broker]?
    public var topics: [String: Topic]?
    public var eos: ExactlyOnce?
    /// The raw JSON text this value was decoded from.
    public var json: String = ""

    public struct Broker: Sendable, Decodable {
        public var name: String?
        public var nodeid: Int32?
        /// "UP", "DOWN", "INIT", "CONNECT", ...
        public var state: String?
    }

    public struct Topic: Sendable, Decodable {
        public var topic: String?
        public var partitions: [String: Partition]?
    }

    public struct Partition: Sendable, Decodable {
        public var partition: Int32?
        public var broker: Int32?
        public var leader: Int32?
        public var msgqCnt: Int64?
        public var xmitMsgqCnt: Int64?
        public var fetchqCnt: Int64?
        /// "none", "active", "stopped", "offset-query", "offset-wait", ...
        public var fetchState: String?
        public var queryOffset: Int64?
        public var nextOffset: Int64?
        public var appOffset: Int64?
        public var storedOffset: Int64?
        public var committedOffset: Int64?
        public var eofOffset: Int64?
        public var loOffset: Int64?
        public var hiOffset: Int64?
        /// The last stable offset from the latest Fetch response (consumer only).
        public var lsOffset: Int64?
        public var consumerLag: Int64?
        public var consumerLagStored: Int64?
        public var txmsgs: Int64?
        public var rxmsgs: Int64?
    }

    /// The idempotent/transactional producer's state.
    public struct ExactlyOnce: Sendable, Decodable {
        public var idempState: String?
        /// "Init", "WaitPID", "ReadyNotAcked", "Ready", "InTransaction", "BeginCommit", ...
        public var txnState: String?
        public var txnMayEnq: Bool?
        public var producerId: Int64?
        public var producerEpoch: Int16?
        public var epochCnt: Int64?
    }

    enum CodingKeys: String, CodingKey {
        case name, type, ts, time, replyq, tx, rx, txmsgs, rxmsgs, brokers, topics, eos
        case clientId = "client_id"
        case msgCnt = "msg_cnt"
        case msgSize = "msg_size"
        case txBytes = "tx_bytes"
        case rxBytes = "rx_bytes"
        case txmsgBytes = "txmsg_bytes"
        case rxmsgBytes = "rxmsg_bytes"
    }

    /// Statistics of one partition, if reported (partition -1 is librdkafka's internal "unassigned").
    public func partition(_ tp: TopicPartition) -> Partition? {
        topics?[tp.topic]?.partitions?[String(tp.partition)]
    }
}

extension KafkaStatistics.Partition {
    enum CodingKeys: String, CodingKey {
        case partition, broker, leader, txmsgs, rxmsgs
        case msgqCnt = "msgq_cnt"
        case xmitMsgqCnt = "xmit_msgq_cnt"
        case fetchqCnt = "fetchq_cnt"
        case fetchState = "fetch_state"
        case queryOffset = "query_offset"
        case nextOffset = "next_offset"
        case appOffset = "app_offset"
        case storedOffset = "stored_offset"
        case committedOffset = "committed_offset"
        case eofOffset = "eof_offset"
        case loOffset = "lo_offset"
        case hiOffset = "hi_offset"
        case lsOffset = "ls_offset"
        case consumerLag = "consumer_lag"
        case consumerLagStored = "consumer_lag_stored"
    }
}

extension KafkaStatistics.ExactlyOnce {
    enum CodingKeys: String, CodingKey {
        case idempState = "idemp_state"
        case txnState = "txn_state"
        case txnMayEnq = "txn_may_enq"
        case producerId = "producer_id"
        case producerEpoch = "producer_epoch"
        case epochCnt = "epoch_cnt"
    }
}
