import Foundation

/// Where a Kafka input record came from: its topic, partition and offset. The sink names it when it
/// cannot write what the record became (see `KafkaSinkConfiguration.unwritableRecords`).
public struct KafkaRecordOrigin: Sendable, Hashable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32
    public let offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public var description: String { "topic '\(topic)', partition \(partition), offset \(offset)" }
}

/// The Kafka input record whose processing is under way on the current thread. The runtime runs
/// each subtask on a thread of its own and calls the operators chained to a source on that thread,
/// inside the source's `collect`: so while a record goes down the chain, a sink chained to the
/// source can look up which input record it is writing the output of. The Kafka source sets it per
/// record and clears it when its poll ends. Downstream of a keyed exchange (another subtask's
/// thread), or for output of windows and timers, nothing is set: such output has no single input
/// record.
final class CurrentInputRecord {
    private var topic = ""
    private var partition: Int32 = 0
    private var offset: Int64 = -1
    private var isSet = false

    private static var threadKey: String { "sluice.kafka.currentInputRecord" }

    /// The current thread's slot, made on first use. The source looks it up once per poll; the
    /// thread dictionary keeps it alive for the thread's life (a subtask's thread ends with its attempt).
    static func ofCurrentThread() -> CurrentInputRecord {
        let dictionary = Thread.current.threadDictionary
        if let existing = dictionary[threadKey] as? CurrentInputRecord { return existing }
        let made = CurrentInputRecord()
        dictionary[threadKey] = made
        return made
    }

    /// The origin of the input record being processed on the current thread; nil when none is.
    /// Looked up only when a record cannot be written, so its cost does not matter.
    static var origin: KafkaRecordOrigin? {
        (Thread.current.threadDictionary[threadKey] as? CurrentInputRecord)?.origin
    }

    var origin: KafkaRecordOrigin? {
        isSet ? KafkaRecordOrigin(topic: topic, partition: partition, offset: offset) : nil
    }

    /// A record of a new partition run (called once per run of records of one partition).
    func enter(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// The record at `offset` of the partition entered last goes down the chain.
    func process(offset: Int64) {
        self.offset = offset
        isSet = true
    }

    func clear() { isSet = false }
}
