import Foundation
import SluiceKafka
import Synchronization

/// Watches a contender's output topic with a librdkafka read_committed consumer on a thread of its
/// own: counts records as they become visible and, for the latency phase, records each record's
/// "visible at" minus "produced at" (its timestamp, which every pass-through copies from its input).
/// With `isolation: .readUncommitted` it sees records as soon as they are written to the log, inside
/// open transactions too: the moment a job has processed its input, whether or not it is committed yet.
///
/// The embedded broker shows records of ABORTED transactions to read_committed consumers (kafka-facts,
/// Tansu quirk 1), so this count is only trusted together with the transaction-aware check that
/// `OutputCheck` runs after each contender.
final class OutputWatcher: Sendable {
    struct Snapshot: Sendable {
        var count = 0
        var reachedTarget: ContinuousClock.Instant?
        /// (record timestamp ms, latency ms)
        var latencies: [(Int64, Double)] = []
        /// (record value, wall-clock ms when first seen), when values are recorded.
        var visible: [(value: [UInt8], atMillis: Double)] = []
    }

    let topic: String
    let target: Int
    let recordLatencies: Bool
    let recordValues: Bool
    private let consumer: KafkaConsumer
    private let state = Mutex(Snapshot())
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    init(
        bootstrap: String, topic: String, target: Int, recordLatencies: Bool, recordValues: Bool = false,
        isolation: KafkaConfiguration.IsolationLevel = .readCommitted, clientProperties: [String: String] = [:]
    ) throws {
        self.topic = topic
        self.target = target
        self.recordLatencies = recordLatencies
        self.recordValues = recordValues
        var settings = KafkaConfiguration(bootstrapServers: bootstrap, clientProperties)
        settings.groupId = "sluice-bench-watcher-\(isolation.rawValue)"
        settings.clientId = "sluice-bench-watcher"
        settings.isolationLevel = isolation
        settings.fetchQueueBackoff = .milliseconds(10)
        // Ask the broker to answer an empty fetch within 10 ms, so visibility is seen promptly.
        settings["fetch.wait.max.ms"] = "10"
        consumer = try KafkaConsumer(configuration: settings)
        let partitions = try consumer.describeTopic(topic).partitions.map(\.id)
        try consumer.assign(Dictionary(uniqueKeysWithValues: partitions.map { (TopicPartition(topic, $0), KafkaOffset.beginning) }))
        let thread = Thread { [self] in loop() }
        thread.name = "bench-watcher"
        thread.start()
    }

    private func loop() {
        defer { finished.store(true, ordering: .releasing) }
        while !stopping.load(ordering: .acquiring) {
            let records: [KafkaRecord]
            do {
                records = try consumer.pollRecords(maxRecords: 10_000, timeout: .milliseconds(20))
            } catch {
                continue
            }
            guard !records.isEmpty else { continue }
            let now = ContinuousClock.now
            let wallMillis = Date().timeIntervalSince1970 * 1000
            state.withLock { snapshot in
                snapshot.count += records.count
                if recordLatencies {
                    for record in records {
                        let produced = record.timestamp ?? 0
                        snapshot.latencies.append((produced, wallMillis - Double(produced)))
                    }
                }
                if recordValues {
                    for record in records { snapshot.visible.append((record.value ?? [], wallMillis)) }
                }
                if snapshot.reachedTarget == nil && snapshot.count >= target { snapshot.reachedTarget = now }
            }
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }
    var count: Int { state.withLock { $0.count } }

    /// Waits until `target` records were seen or `timeout` passed or `abort()` says so; returns when the target was reached.
    func waitForTarget(timeout: Double, abort: () -> Bool) -> ContinuousClock.Instant? {
        waitForTargetReached(timeout: timeout, abort: abort) { state.withLock { $0.reachedTarget } }
    }

    /// Waits until the count is above `count`.
    func waitForCount(above count: Int, timeout: Double) -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while ContinuousClock.now < deadline {
            if self.count > count { return .now }
            usleep(5_000)
        }
        return nil
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(5_000) }
        consumer.close()
    }
}

/// What the bench asks of a watcher of a contender's output, whichever way it reads it.
protocol OutputProgress: Sendable {
    /// Records seen so far.
    var count: Int { get }
    /// (record value, wall-clock ms when first seen), when values are recorded.
    var visibleValues: [(value: [UInt8], atMillis: Double)] { get }
    /// Waits until the target was reached, `timeout` seconds passed or `abort()` says so; returns when it was reached.
    func waitForTarget(timeout: Double, abort: () -> Bool) -> ContinuousClock.Instant?
    func stop()
}

extension OutputWatcher: OutputProgress {
    var visibleValues: [(value: [UInt8], atMillis: Double)] { snapshot.visible }
}

extension CommittedOutputPoller: OutputProgress {
    var visibleValues: [(value: [UInt8], atMillis: Double)] { snapshot.visible }
}

/// Asks `reached` every 5 ms until it answers, `abort()` says so, or `timeout` seconds pass; returns
/// when the target was reached (what the output watchers' `waitForTarget` share).
func waitForTargetReached(
    timeout: Double, abort: () -> Bool, reached: () -> ContinuousClock.Instant?
) -> ContinuousClock.Instant? {
    let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
    while ContinuousClock.now < deadline {
        if let at = reached() { return at }
        if abort() { return reached() }
        usleep(5_000)
    }
    return nil
}
