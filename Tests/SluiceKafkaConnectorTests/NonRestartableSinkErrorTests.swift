import SluiceKafka
@testable import SluiceKafkaConnector
import SluiceRuntime
import Synchronization
import Testing

/// The sink errors a restart would only repeat end the job at once, whatever its restart strategy;
/// the others are still restarted. Each runs a job that fails with the error on every attempt under
/// fixed-delay with 3 attempts.
@Suite struct NonRestartableSinkErrorTests {
    static let unwritable = UnwritableRecord(
        problem: .tooLarge(bytes: 1_200_064, limit: 1_000_000), input: KafkaRecordOrigin(topic: "in", partition: 1, offset: 3),
        outputTopic: "out", key: nil, checkpointId: 2)

    /// How many attempts the job made, and the restarts its failure reports.
    static func run(failingWith error: KafkaSinkError) throws -> (attempts: Int, restarts: Int?) {
        var configuration = runtimeConfiguration("non-restartable", parallelism: 1)
        configuration.restartStrategy = .fixedDelay(attempts: 3, delay: .zero)
        let attempts = Atomic<Int>(0)
        let env = StreamExecutionEnvironment(configuration)
        env.fromSource(CollectionSource([1, 2, 3], onEmit: { index in
            guard index == 1 else { return }
            attempts.add(1, ordering: .relaxed)
            throw error
        }), name: "numbers")
            .sinkTo(CollectingSink<Int>(into: .init()), name: "out")
        do {
            _ = try env.execute()
            return (attempts.load(ordering: .relaxed), nil)
        } catch let failed as JobFailedError {
            return (attempts.load(ordering: .relaxed), failed.restarts)
        }
    }

    @Test(arguments: [
        KafkaSinkError.transactionLogGone(transactionalId: "job-0-0", context: "Fetch out-0 at offset 40"),
        KafkaSinkError.unwritableRecord(unwritable),
    ])
    func endsTheJobWithoutARestart(error: KafkaSinkError) throws {
        let (attempts, restarts) = try Self.run(failingWith: error)
        #expect(attempts == 1, "\(error)")
        #expect(restarts == 0)
    }

    @Test func otherSinkErrorsAreStillRestarted() throws {
        let (attempts, restarts) = try Self.run(failingWith: .deliveryFailed(count: 1, first: nil))
        #expect(attempts == 4)
        #expect(restarts == 3)
    }
}
