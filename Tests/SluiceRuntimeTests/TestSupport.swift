import Foundation
import Logging
@testable import SluiceRuntime

/// A fresh temporary checkpoint directory.
func temporaryDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "sluice-tests-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func testConfiguration(
    checkpointing: CheckpointConfig = CheckpointConfig(),
    restart: RestartStrategy = .none,
    faults: FaultInjector = .disabled,
    clock: any RuntimeClock = SystemClock(),
    parallelism: Int = 1
) -> RuntimeConfiguration {
    var logger = Logger(label: "sluice.test")
    logger.logLevel = ProcessInfo.processInfo.environment["SLUICE_TEST_LOG"] != nil ? .debug : .critical
    var configuration = RuntimeConfiguration(
        jobName: "test", defaultParallelism: parallelism, checkpointing: checkpointing, restartStrategy: restart,
        logger: logger, clock: clock, faultInjector: faults, batchSize: 16, channelCapacity: 4,
        bufferTimeout: .milliseconds(5), sourceIdleWait: .milliseconds(1))
    // In-process tests restart inside one process, where in-memory checkpoints survive.
    configuration.allowExactlyOnceWithInMemoryCheckpoints = true
    return configuration
}

/// Polls `condition` until true or ~10 s passed (state-based waiting, no timing assertions).
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        usleep(5000)
    }
    return condition()
}

/// Counts elements per key, emitting (key, running count) for every element.
final class RunningCount: KeyedProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias Output = String
    private var count: ValueState<Int>?

    init() {}

    func open(_ context: KeyedContext<String>) throws {
        count = try context.state(ValueStateDescriptor<Int>("count"))
    }

    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {
        let next = (count?.value() ?? 0) + 1
        count?.update(next)
        try out.collect("\(value):\(next)")
    }
}
