import Logging
import SluiceKafka
import SluiceKafkaWire

/// What the exactly-once sink needs of one transactional producer: the seam between the sink's
/// writer, committer and abort strategy and librdkafka, so each can be tested with an in-memory
/// client. `KafkaTransactionalProducer` is the real one.
protocol TransactionalProducerClient: AnyObject, Sendable {
    var transactionalId: String { get }
    func beginTransaction() throws(KafkaError)
    func produce(_ record: ProducerRecord) throws(KafkaError)
    func flush(timeout: Duration) throws(KafkaError)
    func drainDeliveryReports() -> [DeliveryReport]
    /// The first offset of the open transaction in each partition it wrote to.
    var currentTransactionFirstOffsets: [TopicPartition: Int64] { get }
    func producerIdAndEpoch(timeout: Duration) throws(KafkaError) -> ProducerIdAndEpoch
    func commitTransaction(timeout: Duration) throws(KafkaError)
    func abortTransaction(timeout: Duration) throws(KafkaError)
    func close()
    /// What put the producer in a fatal state (e.g. fenced); nil while usable.
    var fatalState: KafkaError? { get }
}

extension TransactionalProducerClient {
    var fatalState: KafkaError? { nil }
}

extension KafkaTransactionalProducer: TransactionalProducerClient {
    func produce(_ record: ProducerRecord) throws(KafkaError) { try produce(record, timeout: .seconds(30)) }
}

/// Creates transactional producers with transactions initialised: `initTransactions` fences any
/// earlier producer of the same id and aborts the transaction it left open.
protocol TransactionalProducerFactory: Sendable {
    func makeInitialisedProducer(transactionalId: String) throws(KafkaSinkError) -> any TransactionalProducerClient
}

/// The real factory: librdkafka producers with the sink's settings.
struct LibrdkafkaProducerFactory: TransactionalProducerFactory {
    let configuration: KafkaSinkConfiguration
    let clientId: String
    let logger: Logger

    func makeInitialisedProducer(transactionalId: String) throws(KafkaSinkError) -> any TransactionalProducerClient {
        let settings = configuration.producerConfiguration(transactionalId: transactionalId, clientId: clientId)
        let producer: KafkaTransactionalProducer
        do {
            producer = try KafkaTransactionalProducer(configuration: settings, logger: logger)
        } catch {
            throw .kafka(error, context: "creating the transactional producer '\(transactionalId)'")
        }
        do {
            try producer.initTransactions(timeout: configuration.transactionCallTimeout)
        } catch {
            producer.close()
            if error.kind == .invalidTransactionTimeout {
                throw .transactionTimeoutRefusedByBroker(timeout: configuration.transactionTimeout, error)
            }
            throw .kafka(error, context: "initialising transactions for '\(transactionalId)'")
        }
        return producer
    }
}

/// Ends a transaction on the wire by its committable (producer id and epoch), without a producer:
/// how a restarted job commits what its checkpoint promised. `TransactionResolver` is the real one.
protocol TransactionRecoveryClient: AnyObject {
    func commit(_ committable: TransactionCommittable) -> TransactionOutcome
    /// Per partition of the committable, its transaction's marker in the log (nil: none yet); read only.
    func markersInLog(_ committable: TransactionCommittable) throws -> [TopicPartition: ControlMarker?]
}

extension TransactionResolver: TransactionRecoveryClient {}
