import Foundation
import Logging
import Synchronization
import Testing
@testable import SluiceRuntime

/// The driver's part of the protocol: the crash point between sink commits. The state machine
/// says "notify complete"; the driver delivers it to the first committing subtask alone, passes
/// `betweenSubtaskCommits`, then delivers it to the others.
@Suite struct CheckpointCoordinatorDriverTests {
    final class Commits: Sendable {
        let subtasks = Mutex<[Int]>([])
        let atCrashPoint = Mutex<[Int]?>(nil)
        var all: [Int] { subtasks.withLock { $0 } }
    }

    @Test func betweenSubtaskCommitsFallsAfterExactlyOneSinkSubtaskCommitted() {
        let source = CoordinatedTask(key: TaskKey(chain: 0, subtask: 0), inbox: TaskInbox(), isSource: true, commitsOnComplete: false)
        let sinks = (0..<3).map { CoordinatedTask(key: TaskKey(chain: 1, subtask: $0), inbox: TaskInbox(), isSource: false, commitsOnComplete: true) }
        let commits = Commits()
        let faults = FaultInjector(point: .betweenSubtaskCommits, checkpointId: 1, action: .custom { _, _ in
            commits.atCrashPoint.withLock { $0 = commits.all }
        })
        let driver = CheckpointCoordinatorDriver(
            config: CheckpointConfig(), storage: InMemoryCheckpointStorage(), clock: ManualClock(), logger: Logger(label: "test"),
            metrics: RuntimeMetrics(factory: TestMetrics(), jobName: "test"), faultInjector: faults, firstCheckpointId: 1,
            onFailure: { _ in })
        driver.register(tasks: [source] + sinks, vertices: [])
        let ended = Flag()
        Thread {
            driver.run()
            ended.set()
        }.start()
        // Each sink subtask "commits" when it processes the notification.
        let stopSinks = Flag()
        for sink in sinks {
            Thread {
                while !stopSinks.isSet {
                    sink.inbox.waitForMail(until: Date(timeIntervalSinceNow: 0.005))
                    for (mail, completion) in sink.inbox.drainMail() {
                        if case .notifyCheckpointComplete = mail { commits.subtasks.withLock { $0.append(sink.key.subtask) } }
                        completion?.complete(processed: true)
                    }
                }
            }.start()
        }
        defer {
            stopSinks.set()
            driver.stop()
            _ = eventually { ended.isSet }
        }

        driver.requestCheckpoint()
        #expect(eventually {
            source.inbox.drainMail().contains { if case .triggerCheckpoint = $0.0 { true } else { false } }
        })
        for task in [source] + sinks { driver.acknowledge(1, task: task.key, states: [:]) }
        #expect(eventually { commits.all.count == 3 })
        #expect(commits.atCrashPoint.withLock { $0 } == [0])
        #expect(commits.all.first == 0)
        #expect(driver.lastCompleted == 1)
    }
}
