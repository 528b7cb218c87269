/// Special (logical) offsets understood by `KafkaConsumer.assign` and `seek`; real offsets are >= 0.
/// The values are librdkafka's (`RD_KAFKA_OFFSET_*`), which are also Kafka's ListOffsets timestamps.
public enum KafkaOffset {
    /// The earliest offset still in the log.
    public static let beginning: Int64 = -2
    /// The offset after the last record (the next one to be written).
    public static let end: Int64 = -1
    /// The offset committed for the group, or `auto.offset.reset` when there is none.
    public static let stored: Int64 = -1000
}
