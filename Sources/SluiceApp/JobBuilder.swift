import Logging
import SluiceRuntime

/// What `SluiceJob.build` declares the job on: the runtime's environment configured from the
/// standard options, the settings themselves, a logger, and Kafka sources and sinks that carry
/// the job's Kafka settings (see `JobBuilder+Kafka.swift`).
public final class JobBuilder {
    public let settings: JobSettings
    public let environment: StreamExecutionEnvironment
    public let logger: Logger
    /// Transactional-id prefixes of the exactly-once sinks declared so far: two sinks sharing one
    /// would fence each other's producers.
    var transactionalIdPrefixes: Set<String> = []
    /// Moves keyed streams between workers (`--workers` > 1); nil in one process.
    private(set) var exchange: KafkaKeyedExchange?

    init(settings: JobSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.environment = StreamExecutionEnvironment(settings.runtimeConfiguration(logger: logger))
        if settings.usesKeyedExchange {
            let exchange = KafkaKeyedExchange(builder: self)
            self.exchange = exchange
            environment.keyedExchange = exchange
        }
    }
}

/// A job declaration that cannot work, found before anything starts.
public enum JobBuildError: Error, CustomStringConvertible {
    case duplicateTransactionalIds(prefix: String, sink: String)
    case noTransactionalIdPrefix(sink: String)
    case exchangeAcrossWorkers(workers: Int, edges: [String])
    case keyedRescaleAcrossOneProcess(from: Int, to: Int)
    case topicNotDescribed(topic: String, reason: String)

    public var description: String {
        switch self {
        case .duplicateTransactionalIds(let prefix, let sink):
            return "The exactly-once sink '\(sink)' would use the transactional ids '\(prefix)-*' of another sink of this job: "
                + "give each sink its own transactionalIdSuffix (a stable name: it is how a restarted job finds its transactions)."
        case .noTransactionalIdPrefix(let sink):
            return "The exactly-once sink '\(sink)' needs a transactional-id prefix: give --transactional-id-prefix (unique per "
                + "deployment, stable across restarts), or set JobSettings.transactionalIdPrefix in configure."
        case .topicNotDescribed(let topic, let reason):
            return "Cannot read the partitions of topic '\(topic)' (\(reason)). Create the topic first, and check --bootstrap and the "
                + "client settings (--client-config, -X): the job needs its partition count before it starts."
        case .keyedRescaleAcrossOneProcess(let from, let to):
            return "Cannot rescale this keyed job from \(from) to \(to) worker(s): with several workers its keyed streams cross a repartition "
                + "topic, in one process they do not, so the snapshots of one layout do not fit the other. Rescale between numbers "
                + "of workers above 1 (e.g. --workers 2 --rescale-from-workers 3), or stop with a savepoint and keep the old layout."
        case .exchangeAcrossWorkers(let workers, let edges):
            return "This job cannot run as --workers \(workers): it exchanges records by key or broadcast (\(edges.joined(separator: ", "))), "
                + "that cannot cross between worker processes (only DataStream.keyBy crosses, through a repartition topic; connected "
                + "streams' keyBy and broadcast do not), so the records of one key would be counted in several workers, each with a "
                + "part of them. Run it as one process (--workers 1, scale with -p), or, if its input topics are already partitioned "
                + "by the job's keys (every record of a key in one partition, in every input), say so with --keys-follow-partitions."
        }
    }
}
