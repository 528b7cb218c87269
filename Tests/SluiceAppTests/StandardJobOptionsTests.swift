import Foundation
import Testing
@testable import SluiceApp
import Logging

@Suite struct StandardJobOptionsTests {
    func settings(_ arguments: [String], environment: [String: String] = [:]) throws -> JobSettings {
        try StandardJobOptions.parse(arguments).settings(jobName: "order-totals", environment: environment)
    }

    /// What exactly-once cannot do without; the rest has defaults.
    static let exactlyOnce = ["--checkpoint-dir", "/tmp/c", "--transactional-id-prefix", "orders-prod"]

    @Test func defaultsAreExactlyOnceWithCheckpointsAndTheJobsName() throws {
        let defaults = try settings(Self.exactlyOnce, environment: ["KAFKA_BOOTSTRAP": "broker:9092"])
        #expect(defaults.bootstrapServers == "broker:9092")
        #expect(defaults.deliveryGuarantee == .exactlyOnce)
        #expect(defaults.checkpointInterval == .seconds(1))
        #expect(defaults.transactionalIdPrefix == "orders-prod")
        #expect(defaults.groupId == "order-totals")
        #expect(defaults.restartStrategy == .fixedDelay(attempts: 3, delay: .milliseconds(500)))
        #expect(defaults.statusPort == nil)
    }

    @Test func optionsBecomeSettings() throws {
        let parsed = try settings([
            "--bootstrap", "k:1", "-p", "3", "--checkpoint-dir", "/tmp/c", "--checkpoint-interval", "250ms",
            "--checkpoint-timeout", "2m", "--state-backend", "disk", "--state-dir", "/tmp/s", "--restart-strategy", "none",
            "--transactional-id-prefix", "t", "--status-port", "0", "--log-level", "debug", "--max-concurrent-checkpoints", "2",
        ])
        #expect(parsed.bootstrapServers == "k:1")
        #expect(parsed.parallelism == 3)
        #expect(parsed.checkpointInterval == .milliseconds(250))
        #expect(parsed.checkpointTimeout == .seconds(120))
        #expect(parsed.stateBackend == .disk(directory: "/tmp/s"))
        #expect(parsed.restartStrategy == RestartStrategy.none)
        #expect(parsed.savepointDirectory == "/tmp/c/savepoints")
        #expect(parsed.transactionalIdPrefix == "t")
        #expect(parsed.statusPort == 0)
        #expect(parsed.logLevel == .debug)
        #expect(parsed.maxConcurrentCheckpoints == 2)
    }

    @Test func clientSettingsComeFromTheFileAndMinusXWins() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("client-\(UUID()).properties").path
        try "# secured\nsecurity.protocol=SASL_SSL\n\nsasl.mechanism = SCRAM-SHA-256\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let parsed = try settings(Self.exactlyOnce + ["--client-config", file, "-X", "sasl.mechanism=PLAIN", "-X", "client.id=a=b"])
        #expect(parsed.clientSettings == ["security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "client.id": "a=b"])
        #expect(throws: ValidationError.self) { try settings(["-X", "no-equals-sign"]) }
        #expect(throws: ValidationError.self) { try settings(["--client-config", file + ".missing"]) }
    }

    @Test func refusesSettingsThatCannotWork() {
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["--checkpoint-interval", "off"]) }
        #expect(throws: (any Error).self) { try settings(Self.exactlyOnce + ["--checkpoint-interval", "soon"]) }
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["--state-backend", "rocks"]) }
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["--delivery-guarantee", "maybe"]) }
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["--restart-strategy", "sometimes"]) }
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["-p", "0"]) }
        #expect(throws: ValidationError.self) { try settings(Self.exactlyOnce + ["--log-level", "loud"]) }
        #expect(throws: Never.self) { try settings(["--checkpoint-interval", "off", "--delivery-guarantee", "atLeastOnce"]) }
    }

    /// Issue 13, points 2 and 3: no default prefix (two deployments would fence each other), and no
    /// exactly-once on checkpoints kept in memory (a restart would write the output again).
    @Test func exactlyOnceNeedsAPrefixAndADurableCheckpointDirectory() throws {
        let noPrefix = #expect(throws: ValidationError.self) { try settings(["--checkpoint-dir", "/tmp/c"]) }
        #expect(noPrefix?.message.contains("exactly-once needs --transactional-id-prefix") == true)
        let noDirectory = #expect(throws: ValidationError.self) { try settings(["--transactional-id-prefix", "p"]) }
        #expect(noDirectory?.message.contains("exactly-once needs --checkpoint-dir") == true)
        #expect(try settings(Self.exactlyOnce).transactionalIdPrefix == "orders-prod")
        // Named once for a deployment through the environment, as KAFKA_BOOTSTRAP is.
        let fromEnvironment = try settings(["--checkpoint-dir", "/tmp/c"], environment: ["SLUICE_TRANSACTIONAL_ID_PREFIX": "env-prefix"])
        #expect(fromEnvironment.transactionalIdPrefix == "env-prefix")
        // At least once needs neither.
        #expect(throws: Never.self) { try settings(["--delivery-guarantee", "atLeastOnce"]) }
    }

    @Test func durationsAndNames() {
        #expect(DurationArgument(argument: "1.5s")?.duration == .milliseconds(1500))
        #expect(DurationArgument(argument: "5m")?.duration == .seconds(300))
        #expect(DurationArgument(argument: "40")?.duration == .milliseconds(40))
        #expect(DurationArgument(argument: "-1s") == nil)
        #expect(DurationArgument(.seconds(2)).defaultValueDescription == "2s")
        #expect(kebabCase("OrderPaymentJoin") == "order-payment-join")
    }

    @Test func twoExactlyOnceSinksNeedTheirOwnTransactionalIds() throws {
        let job = JobBuilder(settings: try settings(Self.exactlyOnce), logger: .init(label: "test"))
        let stream = job.environment.fromCollection(["a"], name: "values")
        let serialize: @Sendable (String) -> KafkaSinkRecord = { KafkaSinkRecord(value: Array($0.utf8)) }
        try job.kafkaSink(stream, topic: "one", name: "one", serialize: serialize)
        #expect(throws: JobBuildError.self) { try job.kafkaSink(stream, topic: "two", name: "two", serialize: serialize) }
        try stream.sinkToKafka(job, topic: "two", name: "two", transactionalIdSuffix: "two", serialize: serialize)
    }
}

/// A job as an author writes it: options of its own beside the standard ones, and `configure`.
struct WordRouter: SluiceJob {
    struct Options: ParsableArguments {
        @Option var inputTopic = "words"
        @Flag var legacyCheckpointing = false
    }

    static func configure(_ settings: inout JobSettings, options: Options) throws {
        if !options.legacyCheckpointing { settings.checkpointInterval = .milliseconds(250) }
    }

    static func build(_ job: JobBuilder, options: Options) throws {
        try job.kafkaSource(topics: [options.inputTopic], name: "words") { $0.valueString }
            .sinkToKafka(job, topic: "out", name: "out") { KafkaSinkRecord(value: Array($0.utf8)) }
    }
}

@Suite struct JobCommandTests {
    @Test func parsesStandardAndJobOptionsTogether() throws {
        let command = try JobCommand<WordRouter>.parse(["--input-topic", "letters", "-p", "3", "--bootstrap", "k:9"] + StandardJobOptionsTests.exactlyOnce)
        #expect(command.own.inputTopic == "letters")
        var settings = try command.standard.settings(jobName: WordRouter.name)
        try WordRouter.configure(&settings, options: command.own)
        #expect(settings.parallelism == 3)
        #expect(settings.checkpointInterval == .milliseconds(250))
        #expect(WordRouter.name == "word-router" && WordRouter.commandName == "word-router")
        #expect(throws: (any Error).self) { try JobCommand<WordRouter>.parse(["--no-such-option"]) }
        let job = JobBuilder(settings: settings, logger: .init(label: "test"))
        try WordRouter.build(job, options: command.own)
    }
}

/// Issue 13 (points 5, 7, 9): the fault-handling options.
@Suite struct FaultOptionsTests {
    func settings(_ arguments: [String]) throws -> JobSettings {
        // Exactly-once (the default) needs a prefix and a checkpoint folder since issue 13's points 1-3.
        try StandardJobOptions.parse(StandardJobOptionsTests.exactlyOnce + arguments).settings(jobName: "order-totals", environment: [:])
    }

    @Test func defaultsFailAtTheFirstProblem() throws {
        let defaults = try settings([])
        #expect(defaults.tolerableCheckpointFailures == 0)
        #expect(defaults.onOffsetOutOfRange == .fail)
        #expect(defaults.sinkMaxParallelism == nil)
        #expect(defaults.runtimeConfiguration(logger: Logger(label: "t")).checkpointing.tolerableFailures == 0)
    }

    @Test func faultOptionsBecomeSettings() throws {
        let parsed = try settings([
            "--tolerable-checkpoint-failures", "3", "--on-offset-out-of-range", "earliest", "--sink-max-parallelism", "8",
        ])
        #expect(parsed.tolerableCheckpointFailures == 3)
        #expect(parsed.onOffsetOutOfRange == .earliest)
        #expect(parsed.sinkMaxParallelism == 8)
        #expect(parsed.runtimeConfiguration(logger: Logger(label: "t")).checkpointing.tolerableFailures == 3)
    }

    @Test func badFaultOptionsAreRefusedNamingTheOption() {
        for (arguments, option) in [
            (["--on-offset-out-of-range", "latest"], "--on-offset-out-of-range"),
            (["--tolerable-checkpoint-failures=-1"], "--tolerable-checkpoint-failures"),
            (["--sink-max-parallelism", "0"], "--sink-max-parallelism"),
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { try settings(arguments) }
            do {
                _ = try settings(arguments)
            } catch {
                #expect("\(error)".contains(option), "\(error)")
            }
        }
    }
}
