import SluiceKafka
import Testing

@Suite("KafkaConfiguration validation (no broker)")
struct ConfigurationTests {
    func expectInvalid(
        _ configuration: KafkaConfiguration, for role: KafkaConfiguration.Role, key: String?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            try configuration.validate(for: role)
            Issue.record("validation passed", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == .invalidConfiguration, "\(error)", sourceLocation: sourceLocation)
            #expect(error.configurationKey == key, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func typedSettingsAndRawKeysShareOneStore() throws {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:9092")
        configuration.linger = .milliseconds(5)
        configuration["batch.num.messages"] = "1000"
        configuration.isolationLevel = .readCommitted
        configuration.acks = .all
        #expect(configuration["linger.ms"] == "5")
        #expect(configuration.batchNumMessages == 1000)
        #expect(configuration["isolation.level"] == "read_committed")
        #expect(configuration.acks == .all)
        try configuration.validate(for: .producer)
    }

    @Test func consumerDefaults() {
        let values = KafkaConfiguration(bootstrapServers: "b:1").effectiveValues(for: .consumer)
        #expect(values["group.id"] != nil)
        #expect(values["fetch.queue.backoff.ms"] == "10")
        #expect(values["enable.partition.eof"] == "true")
        #expect(values["fetch.wait.max.ms"] == "100")
        #expect(values["enable.auto.commit"] == "false")
        var configured = KafkaConfiguration(bootstrapServers: "b:1")
        configured.fetchQueueBackoff = .milliseconds(50)
        configured.groupId = "mine"
        #expect(configured.effectiveValues(for: .consumer)["fetch.queue.backoff.ms"] == "50")
        #expect(configured.effectiveValues(for: .consumer)["group.id"] == "mine")
    }

    @Test func transactionalProducerTurnsOnStatistics() {
        var configuration = KafkaConfiguration(bootstrapServers: "b:1")
        configuration.transactionalId = "t"
        #expect(configuration.effectiveValues(for: .transactionalProducer)["statistics.interval.ms"] == "200")
        configuration.statisticsInterval = .milliseconds(1000)
        #expect(configuration.effectiveValues(for: .transactionalProducer)["statistics.interval.ms"] == "1000")
    }

    @Test func unknownKeyIsRejectedByLibrdkafkaWithItsName() {
        var configuration = KafkaConfiguration(bootstrapServers: "b:1")
        configuration["no.such.key"] = "1"
        expectInvalid(configuration, for: .producer, key: "no.such.key")
    }

    @Test func invalidValueIsRejectedByLibrdkafkaWithItsName() {
        var configuration = KafkaConfiguration(bootstrapServers: "b:1")
        configuration["compression.codec"] = "bogus"
        expectInvalid(configuration, for: .producer, key: "compression.codec")
    }

    @Test func negativeAndNonNumericValues() {
        var negative = KafkaConfiguration(bootstrapServers: "b:1")
        negative.linger = .milliseconds(-1)
        expectInvalid(negative, for: .producer, key: "linger.ms")
        var text = KafkaConfiguration(bootstrapServers: "b:1")
        text["message.timeout.ms"] = "soon"
        expectInvalid(text, for: .producer, key: "message.timeout.ms")
        var empty = KafkaConfiguration(bootstrapServers: " ")
        empty.clientId = "x"
        expectInvalid(empty, for: .consumer, key: "bootstrap.servers")
    }

    @Test func messageTimeoutMustBeBelowTransactionTimeout() throws {
        var configuration = KafkaConfiguration(bootstrapServers: "b:1")
        configuration.transactionalId = "t"
        configuration.transactionTimeout = .milliseconds(60_000)
        configuration.messageTimeout = .milliseconds(60_000)
        expectInvalid(configuration, for: .transactionalProducer, key: "message.timeout.ms")
        // librdkafka's default transaction timeout (60 s) applies when it is not set.
        configuration.transactionTimeout = nil
        configuration.messageTimeout = .milliseconds(120_000)
        expectInvalid(configuration, for: .transactionalProducer, key: "message.timeout.ms")
        configuration.messageTimeout = .milliseconds(30_000)
        try configuration.validate(for: .transactionalProducer)
    }

    @Test func transactionsNeedIdempotenceAndAcksAll() {
        var noIdempotence = KafkaConfiguration(bootstrapServers: "b:1")
        noIdempotence.transactionalId = "t"
        noIdempotence.enableIdempotence = false
        expectInvalid(noIdempotence, for: .transactionalProducer, key: "enable.idempotence")
        var leaderAcks = KafkaConfiguration(bootstrapServers: "b:1")
        leaderAcks.transactionalId = "t"
        leaderAcks.acks = .leader
        expectInvalid(leaderAcks, for: .transactionalProducer, key: "acks")
        var idempotent = KafkaConfiguration(bootstrapServers: "b:1")
        idempotent.enableIdempotence = true
        idempotent.acks = .fireAndForget
        expectInvalid(idempotent, for: .producer, key: "acks")
    }

    @Test func transactionalIdBelongsToTheTransactionalProducer() {
        var configuration = KafkaConfiguration(bootstrapServers: "b:1")
        configuration.transactionalId = "t"
        expectInvalid(configuration, for: .producer, key: "transactional.id")
        expectInvalid(configuration, for: .consumer, key: "transactional.id")
        expectInvalid(KafkaConfiguration(bootstrapServers: "b:1"), for: .transactionalProducer, key: "transactional.id")
    }

    @Test func clientsRefuseInvalidConfigurationBeforeConnecting() {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration["not.a.real.key"] = "x"
        #expect { try KafkaProducer(configuration: configuration) } throws: { error in
            (error as? KafkaError)?.configurationKey == "not.a.real.key"
        }
        #expect { try KafkaConsumer(configuration: configuration) } throws: { error in
            (error as? KafkaError)?.kind == .invalidConfiguration
        }
        #expect { try KafkaAdmin(configuration: configuration) } throws: { error in
            (error as? KafkaError)?.kind == .invalidConfiguration
        }
    }

    @Test func errorClassification() {
        let fenced = KafkaError(kind: .fenced, codeName: "_FENCED", message: "m", isFatal: true)
        #expect(fenced.transactionClass == .fatal)
        let abortable = KafkaError(kind: .other, codeName: "X", message: "m", transactionRequiresAbort: true)
        #expect(abortable.transactionClass == .abortable)
        let retriable = KafkaError(kind: .timedOut, codeName: "_TIMED_OUT", message: "m", isRetriable: true)
        #expect(retriable.transactionClass == .retriable)
        #expect(retriable.description.contains("_TIMED_OUT"))
        #expect(!retriable.hint.isEmpty)
    }
}
