import Foundation
import SluiceKafka

/// One split's position in the checkpoint: the next offset to read. The source keeps one entry per
/// split in the runtime's union operator state, so after a rescale every subtask sees all of them
/// and keeps the ones it owns.
struct KafkaSplitState: Codable, Hashable {
    var topic: String
    var partition: Int32
    var nextOffset: Int64
    /// Set while a `.timestamp` start has not yet reached its first record at or after this time
    /// (absent in checkpoints of older versions: nothing to skip).
    var skipBeforeTimestamp: Int64?
    /// The largest event time the split had yielded (its watermark generator's state), so that
    /// after a restore a split with nothing new does not hold the watermark back (absent in older
    /// checkpoints and before the split's first record).
    var maxTimestamp: Int64?

    /// The restored positions, timestamp floors and largest event times, by split.
    static func decode(_ entries: [Data]) throws -> (
        offsets: [TopicPartition: Int64], floors: [TopicPartition: Int64], maxTimestamps: [TopicPartition: Int64]
    ) {
        var offsets: [TopicPartition: Int64] = [:]
        var floors: [TopicPartition: Int64] = [:]
        var maxTimestamps: [TopicPartition: Int64] = [:]
        for entry in entries {
            guard let split = try? JSONDecoder().decode(KafkaSplitState.self, from: entry) else {
                throw KafkaSourceError.corruptSplitState("an entry of \(entry.count) bytes is not a split")
            }
            offsets[TopicPartition(split.topic, split.partition)] = split.nextOffset
            if let floor = split.skipBeforeTimestamp { floors[TopicPartition(split.topic, split.partition)] = floor }
            if let max = split.maxTimestamp { maxTimestamps[TopicPartition(split.topic, split.partition)] = max }
        }
        return (offsets, floors, maxTimestamps)
    }

    /// The entries of a snapshot, in split order.
    static func encode(offsets: [TopicPartition: Int64], floors: [TopicPartition: Int64],
                       maxTimestamps: [TopicPartition: Int64] = [:]) throws -> [Data] {
        let encoder = JSONEncoder()
        return try offsets.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
            try encoder.encode(KafkaSplitState(
                topic: $0.key.topic, partition: $0.key.partition, nextOffset: $0.value, skipBeforeTimestamp: floors[$0.key],
                maxTimestamp: maxTimestamps[$0.key]))
        }
    }
}

extension KafkaSplitState {
    /// Resolves logical offsets (beginning/end) that no record has resolved yet, so a restore never
    /// depends on where "earliest" or "latest" is at restore time.
    static func resolveLogicalOffsets(_ nextOffsets: inout [TopicPartition: Int64], _ consumer: KafkaConsumer) {
        let logical = nextOffsets.filter { $0.value < 0 }
        guard !logical.isEmpty else { return }
        let positions = (try? consumer.position(Array(logical.keys))) ?? [:]
        for (tp, logicalOffset) in logical {
            if let position = positions[tp], position >= 0 {
                nextOffsets[tp] = position
                continue
            }
            // Nothing handed out yet: resolve against the watermarks of the latest fetch response
            // (ListOffsets is unreliable on some brokers). Before the first fetch the position stays
            // logical, which for `earliest` means the same thing on restore.
            guard let marks = try? consumer.cachedWatermarks(tp), marks.low >= 0, marks.high >= 0 else { continue }
            if logicalOffset == KafkaOffset.beginning {
                nextOffsets[tp] = marks.low
            } else if logicalOffset == KafkaOffset.end {
                nextOffsets[tp] = marks.high
            }
        }
    }
}

/// The offsets each checkpoint recorded, committed to the consumer group when it completes: for
/// monitoring only (consumer lag in Kafka's tools); the source never reads them back.
struct PendingOffsetCommits {
    private var byCheckpoint: [Int64: [TopicPartition: Int64]] = [:]

    mutating func record(_ offsets: [TopicPartition: Int64], checkpointId: Int64) {
        byCheckpoint[checkpointId] = offsets.filter { $0.value >= 0 }
    }

    /// The offsets of the latest checkpoint up to `checkpointId`; forgets them and older ones.
    mutating func complete(_ checkpointId: Int64) -> [TopicPartition: Int64]? {
        let completed = byCheckpoint.filter { $0.key <= checkpointId }
        for id in completed.keys { byCheckpoint.removeValue(forKey: id) }
        return completed.max(by: { $0.key < $1.key })?.value
    }

    mutating func abort(_ checkpointId: Int64) { byCheckpoint.removeValue(forKey: checkpointId) }
}
