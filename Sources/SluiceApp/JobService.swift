import Foundation
import Logging
import ServiceLifecycle
import SluiceRuntime
import Synchronization

/// Runs a Sluice job (which blocks a thread of its own) as a ServiceLifecycle service: graceful
/// shutdown cancels the job through its Sendable `JobControl`.
public final class JobService: Service, Sendable {
    /// Hands the environment to the job thread. @unchecked: the environment is declared before
    /// and only executed on that thread afterwards; cancelling goes through `control`, which is Sendable.
    struct Handoff: @unchecked Sendable { let environment: StreamExecutionEnvironment }

    let handoff: Handoff
    let control: JobControl
    let logger: Logger

    public init(environment: StreamExecutionEnvironment, logger: Logger) {
        self.handoff = Handoff(environment: environment)
        self.control = environment.control
        self.logger = logger
    }

    public func run() async throws {
        let handoff = self.handoff
        let control = self.control
        let logger = self.logger
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        let result = try handoff.environment.execute()
                        logger.info("Job ended: \(result)")
                        continuation.resume()
                    } catch {
                        logger.error("Job failed: \(error)")
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "sluice-job"
                thread.start()
            }
        } onGracefulShutdown: {
            logger.info("Shutting down: cancelling the job.")
            control.cancel()
        }
    }
}

/// SIGUSR1: stop with a savepoint; SIGUSR2: write a savepoint and keep running. The path goes to
/// standard output as `savepoint: PATH` for scripts and operators.
public final class SavepointSignals: Sendable {
    let control: JobControl
    let directory: String?
    let logger: Logger
    private let queue = DispatchQueue(label: "sluice.savepoint-signals")
    /// Signal sources must stay alive while installed. @unchecked: written once in `install`,
    /// before any handler can run, and only read afterwards.
    private struct Sources: @unchecked Sendable { var list: [any DispatchSourceSignal] = [] }
    private let sources = Mutex(Sources())

    public init(control: JobControl, directory: String?, logger: Logger) {
        self.control = control
        self.directory = directory
        self.logger = logger
    }

    public func install() {
        var installed: [any DispatchSourceSignal] = []
        for (number, stops) in [(SIGUSR1, true), (SIGUSR2, false)] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in take(stoppingJob: stops) }
            source.resume()
            installed.append(source)
        }
        sources.withLock { $0.list = installed }
    }

    private func take(stoppingJob: Bool) {
        guard let directory else {
            logger.error("No savepoint directory: start the job with --savepoint-dir or --checkpoint-dir.")
            return
        }
        do {
            let path = stoppingJob
                ? try control.stopWithSavepoint(directory: directory)
                : try control.triggerSavepoint(directory: directory)
            logger.info("\(stoppingJob ? "Stopped with savepoint" : "Savepoint written"): \(path)")
            print("savepoint: \(path)")
            fflush(nil)  // operators and tests read the path from a pipe
        } catch {
            logger.error("The savepoint failed: \(error)")
        }
    }
}
