import Foundation
import SluiceKafka
import SluiceKafkaWire
import Synchronization

/// Watches a small output topic by polling the transaction-aware reader: a record counts as visible
/// once its transaction's COMMIT marker is in the log and no earlier transaction on its partition is
/// still open, which is when a read_committed consumer sees it on Kafka.
///
/// The workers phase's click counts need it instead of `OutputWatcher`: on the embedded broker,
/// transactions of several workers that overlap on one output partition hold its last stable offset
/// back until a later transaction ends with no other open (kafka-facts, quirk 7). After the first
/// window no later transaction comes until the bench writes more input, which it does only once it
/// has seen that window: a librdkafka read_committed consumer would wait for ever.
/// Each poll rereads the whole topic, so it is for outputs of a few thousand records.
final class CommittedOutputPoller: Sendable {
    struct Snapshot: Sendable {
        var reachedTarget: ContinuousClock.Instant?
        /// (record value, wall-clock ms when first seen).
        var visible: [(value: [UInt8], atMillis: Double)] = []
    }

    private let state = Mutex(Snapshot())
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    init(bootstrap: String, connection: KafkaConnectionOptions, topic: String, partitions: Int32, target: Int = .max) throws {
        let reader = try TransactionAwareLogReader(bootstrap: bootstrap, connection: connection)
        let thread = Thread { [self] in
            defer { finished.store(true, ordering: .releasing) }
            // Per partition, how many of its committed records were seen: below the last stable offset
            // the committed records only ever grow at the end.
            var seen = [Int](repeating: 0, count: Int(partitions))
            while !stopping.load(ordering: .acquiring) {
                for partition in 0..<Int(partitions) {
                    guard let records = try? reader.readPartition(TopicPartition(topic, Int32(partition))).committedRecordsBelowLastStableOffset,
                          records.count > seen[partition]
                    else { continue }
                    let now = ContinuousClock.now
                    let wallMillis = Date().timeIntervalSince1970 * 1000
                    let fresh = records[seen[partition]...].map { (value: $0.value ?? [], atMillis: wallMillis) }
                    seen[partition] = records.count
                    state.withLock { snapshot in
                        snapshot.visible += fresh
                        if snapshot.reachedTarget == nil && snapshot.visible.count >= target { snapshot.reachedTarget = now }
                    }
                }
                usleep(20_000)
            }
        }
        thread.name = "bench-committed-poller"
        thread.start()
    }

    var snapshot: Snapshot { state.withLock { $0 } }
    var count: Int { state.withLock { $0.visible.count } }

    /// Waits until `target` records were seen or `timeout` passed or `abort()` says so; returns when the target was reached.
    func waitForTarget(timeout: Double, abort: () -> Bool) -> ContinuousClock.Instant? {
        waitForTargetReached(timeout: timeout, abort: abort) { state.withLock { $0.reachedTarget } }
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(5_000) }
    }
}
