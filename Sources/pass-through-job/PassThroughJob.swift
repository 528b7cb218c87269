// A stateless SluiceApp job that copies every record of one topic to another, exactly once: key,
// value, headers, timestamp and partition are kept, so an input partitioned by key stays so. The
// smallest job that runs as several worker processes (--workers); tests and the Kubernetes example use it.
// With --key-by-record it keys the records first, so as workers each record crosses the repartition
// topic to the worker of its key group: the benchmark's measure of what the hop costs a copy.
import SluiceApp

@main
struct PassThroughJob: SluiceJob {
    static let commandName = "pass-through-job"
    static let abstract = "Copies every record of --input-topic to --output-topic (same partition), exactly once."

    struct Options: ParsableArguments {
        @Option(help: "Topic to read.") var inputTopic = "input"
        @Option(help: "Topic to write: it needs at least as many partitions as --input-topic.") var outputTopic = "output"
        @Flag(help: """
            Key the records by their Kafka key (by their value when they have none) before the copy: as several --workers, \
            or with --exchange-keyed-streams, every record crosses the repartition topic to the worker of its key group. \
            The copy then goes to the output partition of its key group (key group k of --max-parallelism: partition \
            k × partitions / max-parallelism), so with as many output partitions as key groups each has one writer.
            """)
        var keyByRecord = false
    }

    static func build(_ job: JobBuilder, options: Options) throws {
        let records = job.kafkaSource(topics: [options.inputTopic], name: "input") { record in
            KafkaSinkRecord(key: record.key, value: record.value, headers: record.headers,
                            partition: record.partition, timestamp: record.timestamp)
        }
        guard options.keyByRecord else {
            try records.sinkToKafka(job, topic: options.outputTopic, name: "output") { $0 }
            return
        }
        // By key group, a worker writes only the partitions of the key groups it holds: on the
        // embedded test broker, transactions of several writers that overlap on one partition hold
        // its last stable offset back (kafka-facts, quirk 7), so read_committed readers stall.
        let partitions = try job.partitionCount(of: options.outputTopic)
        let keyGroups = job.settings.maxParallelism
        let key: @Sendable (KafkaSinkRecord) -> [UInt8] = { $0.key ?? $0.value ?? [] }
        try records.keyBy(key)
            .map(name: "by record") { record in
                var copy = record
                copy.partition = Int32(KeyGroups.keyGroup(for: key(record), maxParallelism: keyGroups) * partitions / keyGroups)
                return copy
            }
            .sinkToKafka(job, topic: options.outputTopic, name: "output") { $0 }
    }
}
