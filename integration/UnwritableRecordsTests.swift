import Foundation
import SluiceKafka
import SluiceKafkaWire
import SluiceTestKit
import Testing

/// An input record that maps to an output record above the producer's message.max.bytes (1,000,000
/// by default), end to end: `sluice-fixture oversize-job` turns the input value "big" into 1.2 MB.
/// Without a policy it was a poison pill (the job failed on it after every restart, with
/// librdkafka's MSG_SIZE_TOO_LARGE and no word of which input caused it); now the sink's
/// unwritable-record policy decides: fail naming the input record, skip, or dead-letter.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct UnwritableRecordsTests {
    final class Run {
        let broker: EmbeddedBroker
        let input = EmbeddedBroker.uniqueName("oversize-in")
        let output = EmbeddedBroker.uniqueName("oversize-out")
        let deadLetters = EmbeddedBroker.uniqueName("oversize-dlq")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-oversize-\(UUID().uuidString.prefix(8))").path
        var job: ChildProcess?

        /// Partition 0: a0…a9; partition 1: b0, b1, b2, big (offset 3), b4…b9.
        static let expected: Set<String> = Set((0..<10).map { "a\($0)" } + (0..<10).filter { $0 != 3 }.map { "b\($0)" })

        init() throws {
            broker = try EmbeddedBroker.start()
            let configs = ["retention.ms": "-1", "retention.bytes": "-1"]
            for topic in [input, output, deadLetters] { try broker.createTopic(topic, partitions: 2, configs: configs) }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var configuration = KafkaConfiguration(bootstrapServers: broker.bootstrap)
            configuration.enableIdempotence = true
            let producer = try KafkaProducer(configuration: configuration)
            for index in 0..<10 {
                try producer.produce(ProducerRecord(topic: input, partition: 0, value: Array("a\(index)".utf8)))
                try producer.produce(ProducerRecord(topic: input, partition: 1, value: Array((index == 3 ? "big" : "b\(index)").utf8)))
            }
            try producer.flush(timeout: .seconds(10))
            producer.close()
        }

        func start(policy: String) throws -> ChildProcess {
            let process = try ChildProcess(
                executable: try BuiltProducts.path(of: "sluice-fixture"),
                arguments: [
                    "oversize-job", "--bootstrap", broker.bootstrap, "--input", input, "--output", output,
                    "--checkpoint-dir", folder + "/checkpoints", "--transactional-id-prefix", EmbeddedBroker.uniqueName("oversize"),
                    "--policy", policy,
                ],
                logPath: folder + "/job.log")
            job = process
            return process
        }

        func committed(_ topic: String) throws -> [(partition: Int32, value: String, headers: [String: String])] {
            let log = try TransactionAwareLogReader(bootstrap: broker.bootstrap).readTopic(topic)
            return log.partitions.flatMap { partition in
                partition.committedRecords.map { record in
                    (partition.topicPartition.partition, String(decoding: record.value ?? [], as: UTF8.self),
                     Dictionary(record.headers.map { ($0.key, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 }))
                }
            }
        }

        /// Waits until the output holds every expected value (or 60 s pass), and returns it.
        func waitForOutput() throws -> [String] {
            let deadline = Date().addingTimeInterval(60)
            var values = try committed(output).map(\.value)
            while Set(values) != Self.expected, Date() < deadline, job?.isRunning == true {
                Thread.sleep(forTimeInterval: 0.3)
                values = try committed(output).map(\.value)
            }
            return values
        }

        func tearDown() {
            job?.kill()
            broker.stop()
        }
    }

    @Test func failExitsNonZeroNamingTheInputRecord() throws {
        let run = try Run()
        defer { run.tearDown() }
        let job = try run.start(policy: "fail")
        let status = job.waitForExit(timeout: 90)
        let log = job.outputLines.joined(separator: "\n")
        #expect(status != nil && status != 0, "the job did not fail: \(job.outputLines.suffix(10))")
        let origin = "input record topic '\(run.input)', partition 1, offset 3"
        #expect(log.contains("Cannot write an output record to topic '\(run.output)' (\(origin))"), "\(job.outputLines.suffix(10))")
        #expect(log.contains("above the producer's message.max.bytes (1000000)"))
        // The job's log and its exit both name the record; it fails without a restart inside the
        // process, as the replay would make the same record again.
        #expect(log.components(separatedBy: origin).count - 1 >= 2, "\(job.outputLines.suffix(10))")
        #expect(log.contains("The job failed after 0 restart(s)"), "\(job.outputLines.suffix(10))")
        #expect(log.contains("oversize-job failed: "))
        #expect(try run.committed(run.output).allSatisfy { $0.value.count < 1000 })
    }

    @Test func skipWritesTheRestExactlyOnce() throws {
        let run = try Run()
        defer { run.tearDown() }
        let job = try run.start(policy: "skip")
        let values = try run.waitForOutput()
        #expect(values.count == Run.expected.count && Set(values) == Run.expected, "\(values.sorted())")
        #expect(job.isRunning, "\(job.outputLines.suffix(10))")
        #expect(job.outputLines.contains { $0.contains("Skipping an output record to '\(run.output)' (input record topic '\(run.input)', partition 1, offset 3)") })
    }

    @Test func deadLetterPutsTheRecordInTheDeadLetterTopic() throws {
        let run = try Run()
        defer { run.tearDown() }
        let job = try run.start(policy: "dead-letter:\(run.deadLetters)")
        let values = try run.waitForOutput()
        #expect(values.count == Run.expected.count && Set(values) == Run.expected, "\(values.sorted())")
        #expect(job.isRunning, "\(job.outputLines.suffix(10))")
        let letters = try run.committed(run.deadLetters)
        try #require(letters.count == 1, "\(letters.map(\.headers))")
        let headers = letters[0].headers
        #expect(headers["sluice.dlq.topic"] == run.input)
        #expect(headers["sluice.dlq.partition"] == "1")
        #expect(headers["sluice.dlq.offset"] == "3")
        #expect(headers["sluice.dlq.output.topic"] == run.output)
        #expect(headers["sluice.dlq.error"]?.contains("message.max.bytes (1000000)") == true)
    }
}
