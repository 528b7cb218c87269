// A stateless SluiceApp job that copies every record of one topic to another, exactly once: key,
// value, headers, timestamp and partition are kept, so an input partitioned by key stays so. The
// smallest job that runs as several worker processes (--workers); tests and the Kubernetes example use it.
import SluiceApp

@main
struct PassThroughJob: SluiceJob {
    static let commandName = "pass-through-job"
    static let abstract = "Copies every record of --input-topic to --output-topic (same partition), exactly once."

    struct Options: ParsableArguments {
        @Option(help: "Topic to read.") var inputTopic = "input"
        @Option(help: "Topic to write: it needs at least as many partitions as --input-topic.") var outputTopic = "output"
    }

    static func build(_ job: JobBuilder, options: Options) throws {
        try job.kafkaSource(topics: [options.inputTopic], name: "input") { record in
            KafkaSinkRecord(key: record.key, value: record.value, headers: record.headers,
                            partition: record.partition, timestamp: record.timestamp)
        }
        .sinkToKafka(job, topic: options.outputTopic, name: "output") { $0 }
    }
}
