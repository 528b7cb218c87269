@testable import SluiceKafkaConnector
import Testing

/// Settings checks that run before anything connects.
@Suite("Sink configuration validation")
struct SinkConfigurationTests {
    static func valid() -> KafkaSinkConfiguration {
        KafkaSinkConfiguration(
            bootstrapServers: "127.0.0.1:9092", topic: "out", deliveryGuarantee: .exactlyOnce(prefix: "job"),
            producerPoolSize: 2, transactionTimeout: .seconds(60), brokerMaxTransactionTimeout: .seconds(900))
    }

    @Test func aValidConfigurationPasses() throws {
        try Self.valid().validate(checkpointInterval: .seconds(5))
        try Self.valid().validate(checkpointInterval: nil)
        // Exactly at the lower bound (2 x interval + 10 s) and at the broker maximum.
        var atBounds = Self.valid()
        atBounds.transactionTimeout = .seconds(60)
        atBounds.brokerMaxTransactionTimeout = .seconds(60)
        try KafkaSink<String>(configuration: atBounds, serializer: { KafkaSinkRecord(value: Array($0.utf8)) })
            .validate(checkpointInterval: .seconds(25))
    }

    @Test func transactionCallTimeoutMustBePositive() {
        var configuration = Self.valid()
        #expect(configuration.transactionCallTimeout == .seconds(30))
        configuration.transactionCallTimeout = .zero
        #expect {
            try configuration.validate()
        } throws: { error in
            guard case .invalidConfiguration(let why) = error as? KafkaSinkError else { return false }
            return why.contains("transactionCallTimeout")
        }
    }

    @Test func transactionTimeoutBelowTwoIntervalsPlusTenSeconds() {
        var configuration = Self.valid()
        configuration.transactionTimeout = .milliseconds(59_999)
        #expect {
            try configuration.validate(checkpointInterval: .seconds(25))
        } throws: { error in
            guard case .transactionTimeoutTooSmall(let timeout, let interval) = error as? KafkaSinkError else { return false }
            let text = "\(error)"
            return timeout == .milliseconds(59_999) && interval == .seconds(25)
                && text.contains("2 x interval + 10 s")
        }
    }

    @Test func transactionTimeoutAboveTheBrokerMaximum() {
        var configuration = Self.valid()
        configuration.transactionTimeout = .seconds(901)
        #expect {
            try configuration.validate()
        } throws: { error in
            guard case .transactionTimeoutTooLarge(let timeout, let maximum) = error as? KafkaSinkError else { return false }
            let text = "\(error)"
            return timeout == .seconds(901) && maximum == .seconds(900)
                && text.contains("Lower transactionTimeout") && text.contains("transaction.max.timeout.ms")
        }
    }

    @Test(arguments: [0, 1])
    func poolSmallerThanTwo(size: Int) {
        var configuration = Self.valid()
        configuration.producerPoolSize = size
        #expect {
            try configuration.validate()
        } throws: { error in
            guard case .invalidConfiguration(let why) = error as? KafkaSinkError else { return false }
            return why.contains("producerPoolSize \(size)") && why.contains("use at least 2")
        }
    }

    @Test func emptyTransactionalIdPrefix() {
        var configuration = Self.valid()
        configuration.deliveryGuarantee = .exactlyOnce(prefix: "")
        #expect {
            try configuration.validate()
        } throws: { error in
            guard case .invalidConfiguration(let why) = error as? KafkaSinkError else { return false }
            return why.contains("transactional id prefix") && why.contains("stable across restarts")
        }
    }

    @Test func emptyTopic() {
        var configuration = Self.valid()
        configuration.topic = ""
        #expect {
            try configuration.validate()
        } throws: { error in
            guard case .invalidConfiguration(let why) = error as? KafkaSinkError else { return false }
            return why.contains("topic")
        }
    }

    /// Transactional settings do not matter without transactions.
    @Test(arguments: [DeliveryGuarantee.atLeastOnce, .none])
    func nonTransactionalGuaranteesIgnoreTransactionSettings(guarantee: DeliveryGuarantee) throws {
        var configuration = Self.valid()
        configuration.deliveryGuarantee = guarantee
        configuration.producerPoolSize = 0
        try configuration.validate(checkpointInterval: .seconds(3600))
    }
}

@Suite("Transactional id pool")
struct TransactionalIdPoolTests {
    let pool = KafkaTransactionalIdPool(prefix: "job", size: 2)

    @Test func idsAreDeterministic() {
        #expect(pool.id(subtask: 3, slot: 1) == "job-3-1")
    }

    @Test func freshStartAbortsOwnSlotsOnly() {
        #expect(pool.idsToAbort(subtask: 1, parallelism: 2, previousParallelism: Int?.none) == ["job-1-0", "job-1-1"])
        // A smaller earlier parallelism adds nothing: its subtasks are among the current ones.
        #expect(pool.idsToAbort(subtask: 3, parallelism: 4, previousParallelism: 2) == ["job-3-0", "job-3-1"])
    }

    @Test func scaleDownCoversTheSlotsOfOldSubtasks() {
        // Old parallelism 5, new 2: new subtask j cleans old subtasks j, j+2, j+4.
        #expect(Set(pool.idsToAbort(subtask: 0, parallelism: 2, previousParallelism: 5))
            == ["job-0-0", "job-0-1", "job-2-0", "job-2-1", "job-4-0", "job-4-1"])
        #expect(Set(pool.idsToAbort(subtask: 1, parallelism: 2, previousParallelism: 5))
            == ["job-1-0", "job-1-1", "job-3-0", "job-3-1"])
    }

    @Test(arguments: [(1, 1), (1, 4), (2, 5), (3, 7), (4, 4), (4, 2), (3, 12)])
    func everyOldIdIsCleanedExactlyOnce(parallelism: Int, previous: Int) {
        let all = (0..<parallelism).flatMap { pool.idsToAbort(subtask: $0, parallelism: parallelism, previousParallelism: previous) }
        let expected = (0..<max(parallelism, previous)).flatMap { old in (0..<pool.size).map { pool.id(subtask: old, slot: $0) } }
        #expect(all.sorted() == expected.sorted())
        // Each by the subtask old % parallelism.
        for subtask in 0..<parallelism {
            for id in pool.idsToAbort(subtask: subtask, parallelism: parallelism, previousParallelism: previous) {
                let old = Int(id.split(separator: "-")[1]) ?? -1
                #expect(old % parallelism == subtask, "\(id) cleaned by subtask \(subtask)")
            }
        }
    }
}

@Suite("Split ownership")
struct SplitOwnershipTests {
    @Test func isDeterministicAcrossProcesses() {
        // Golden values from FNV-1a computed outside Swift: "input" hashes to 0xF9D86F7B,
        // "orders" to 0x325E96EC. A change here would reassign splits of restored jobs.
        #expect(KafkaSplitOwnership.owner(topic: "input", partition: 0, parallelism: 4) == 3)
        #expect(KafkaSplitOwnership.owner(topic: "input", partition: 1, parallelism: 4) == 0)
        #expect(KafkaSplitOwnership.owner(topic: "orders", partition: 0, parallelism: 3) == 2)
        #expect(KafkaSplitOwnership.owner(topic: "orders", partition: 5, parallelism: 3) == 1)
        for partition in Int32(0)..<32 {
            #expect(KafkaSplitOwnership.owner(topic: "clicks", partition: partition, parallelism: 5)
                == KafkaSplitOwnership.owner(topic: "clicks", partition: partition, parallelism: 5))
        }
    }

    @Test(arguments: [1, 2, 3, 4, 7, 16])
    func staysInRangeAndSpreadsEvenly(parallelism: Int) {
        for topic in ["input", "orders", "clicks", "a", "", "a-much-longer-topic-name.with.dots"] {
            for partitions in [1, parallelism, parallelism * 3 + 1, 64] {
                var perSubtask = [Int](repeating: 0, count: parallelism)
                for partition in 0..<partitions {
                    let owner = KafkaSplitOwnership.owner(topic: topic, partition: Int32(partition), parallelism: parallelism)
                    #expect((0..<parallelism).contains(owner))
                    if (0..<parallelism).contains(owner) { perSubtask[owner] += 1 }
                }
                // Round-robin: counts differ by at most one, so with enough partitions every subtask reads.
                #expect((perSubtask.max() ?? 0) - (perSubtask.min() ?? 0) <= 1, "\(topic) x \(partitions): \(perSubtask)")
                if partitions >= parallelism { #expect(!perSubtask.contains(0)) }
            }
        }
    }

    @Test func topicsStartAtDifferentSubtasks() {
        // Single-partition topics do not all land on subtask 0.
        let owners = Set((0..<20).map { KafkaSplitOwnership.owner(topic: "topic-\($0)", partition: 0, parallelism: 4) })
        #expect(owners.count > 1)
    }
}

@Suite("Split ownership across worker processes")
struct WorkerSplitOwnershipTests {
    /// Every partition goes to exactly one (worker, subtask), for any counts, and a worker's share
    /// is spread over its subtasks evenly.
    @Test(arguments: [1, 2, 3, 4])
    func everyPartitionToExactlyOneWorkerAndSubtask(workers: Int) throws {
        for parallelism in [1, 2, 3] {
            for partitions in [1, 3, 4, 12, 31] {
                for topic in ["input", "clicks"] {
                    var perSubtask: [[Int]] = Array(repeating: Array(repeating: 0, count: parallelism), count: workers)
                    for partition in Int32(0)..<Int32(partitions) {
                        var owners: [(worker: Int, subtask: Int)] = []
                        for index in 0..<workers {
                            let share = try #require(KafkaWorkerShare(workers: workers, index: index))
                            if let subtask = KafkaSplitOwnership.owner(topic: topic, partition: partition, parallelism: parallelism, worker: share) {
                                #expect((0..<parallelism).contains(subtask))
                                owners.append((index, subtask))
                            }
                        }
                        #expect(owners.count == 1, "\(topic)-\(partition) with \(workers) workers: \(owners)")
                        if let owner = owners.first {
                            #expect(owner.worker == Int(partition) % workers)
                            perSubtask[owner.worker][owner.subtask] += 1
                        }
                    }
                    for counts in perSubtask {
                        #expect((counts.max() ?? 0) - (counts.min() ?? 0) <= 1, "\(topic) x \(partitions), \(workers) workers, p=\(parallelism): \(perSubtask)")
                    }
                }
            }
        }
    }

    @Test func oneWorkerIsTheSingleProcessAssignmentAndTheSplitIsStable() throws {
        for partition in Int32(0)..<16 {
            #expect(KafkaSplitOwnership.owner(topic: "input", partition: partition, parallelism: 3, worker: .all)
                == KafkaSplitOwnership.owner(topic: "input", partition: partition, parallelism: 3))
        }
        // Golden values: a change would move partitions between workers of a running deployment.
        let second = try #require(KafkaWorkerShare(workers: 2, index: 1))
        #expect(KafkaSplitOwnership.owner(topic: "input", partition: 0, parallelism: 2, worker: second) == nil)
        #expect(KafkaSplitOwnership.owner(topic: "input", partition: 1, parallelism: 2, worker: second) == 1)
        #expect(KafkaSplitOwnership.owner(topic: "input", partition: 3, parallelism: 2, worker: second) == 0)
        #expect(KafkaWorkerShare(workers: 2, index: 2) == nil)
        #expect(KafkaWorkerShare(workers: 0, index: 0) == nil)
        #expect(KafkaWorkerShare(workers: 2, index: -1) == nil)
    }
}
