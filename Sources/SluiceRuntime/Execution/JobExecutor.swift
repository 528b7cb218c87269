import Foundation
import Logging
import Metrics

/// Runs a frozen job graph: attempts, restores and restarts.
struct JobExecutor: Sendable {
    let vertices: [JobVertex]
    let configuration: RuntimeConfiguration
    let control: JobControl
    let storage: any CheckpointStorage
    let metrics: RuntimeMetrics
    /// A savepoint or checkpoint named to start from (overrides the checkpoint directory's latest).
    let initialSnapshot: RestorableSnapshot?

    /// The first attempt starts from the named snapshot; later attempts from the newest completed
    /// checkpoint of the job's storage unless the named snapshot, or a stop savepoint recorded since
    /// (its sinks may have committed before this attempt failed), is newer.
    private func restorePoint(firstAttempt: Bool, logger: Logger) throws -> RestoreSource? {
        if let rescale = configuration.workerRescale, configuration.restoreFrom == nil {
            // Until this worker completes a checkpoint of its own layout, every attempt starts from
            // the earlier workers' snapshots; afterwards from its own, as any worker.
            let own = [try storage.latestRestorable(logger: logger), try storage.stopSavepointToResume(logger: logger)?.metadata]
                .compactMap { $0 }.max { $0.checkpointId < $1.checkpointId }
            // An own checkpoint of this layout older than the earlier workers' snapshots predates them
            // (3 -> 2 -> 3 workers: worker 2's folder still holds its checkpoints of the first run).
            let earlier = WorkerRescaleRestore.newestSnapshotId(rescale, logger: logger) ?? Int64.min
            if own.map({ ($0.owner?.workers ?? .single) != configuration.workerLayout || $0.checkpointId < earlier }) ?? true {
                let merged = try WorkerRescaleRestore.merged(
                    rescale, current: configuration.workerLayout, transactionalIdPrefix: configuration.transactionalIdPrefix, logger: logger)
                storage.removeNewer(than: merged.metadata.checkpointId, logger: logger)
                return merged
            }
            if firstAttempt {
                logger.info("This worker already has checkpoints as \(configuration.workerLayout): restoring its own; the rescale from \(rescale.workers) workers is done.")
            }
        }
        var named = initialSnapshot
        if !firstAttempt, let stopped = try storage.stopSavepointToResume(logger: logger),
           stopped.metadata.checkpointId > (named?.metadata.checkpointId ?? Int64.min) {
            named = stopped
        }
        // A named snapshot on the first attempt needs nothing of the directory (its newest checkpoint
        // may be the unreadable one the operator chose to skip).
        let latest = try (firstAttempt && named != nil ? nil : storage.latestRestorable(logger: logger))
        if let initial = named, firstAttempt || (latest?.checkpointId ?? 0) <= initial.metadata.checkpointId {
            storage.removeNewer(than: initial.metadata.checkpointId, logger: logger)
            logger.info("Restoring job '\(configuration.jobName)' from \(initial.metadata.kind) \(initial.metadata.checkpointId) at \(initial.path).")
            return RestoreSource(metadata: initial.metadata, storage: initial.storage, location: initial.path)
        }
        storage.removeNewer(than: latest?.checkpointId, logger: logger)
        if let latest {
            logger.info("Restoring job '\(configuration.jobName)' from checkpoint \(latest.checkpointId).")
        }
        return latest.map {
            RestoreSource(metadata: $0, storage: storage, location: (storage as? FileSystemCheckpointStorage)?.folder($0.checkpointId))
        }
    }

    func run() throws -> JobResult {
        let logger = configuration.logger
        var decider = RestartDecider(configuration.restartStrategy)
        var restarts: Int { decider.restarts }
        let restartCounter = metrics.jobCounter("sluice_restarts_total")
        // After a rewind the storage's latest (the earlier checkpoint) wins over a named snapshot.
        var rewound = false
        var acceptLostTransactionsOf: Int64?
        let freshJobId = UUID().uuidString.lowercased()
        while true {
            let restore: RestoreSource?
            let owner: CheckpointOwner
            do {
                restore = try restorePoint(firstAttempt: restarts == 0 && !rewound, logger: logger)
                owner = try CheckpointOwner.continuing(
                    restore?.metadata, location: restore?.location, configuration: configuration, freshJobId: freshJobId)
            } catch {
                logger.error("Job '\(configuration.jobName)' failed: \(error)")
                control.updateStatus {
                    $0.phase = .failed
                    $0.lastFailure = "\(error)"
                }
                throw error
            }
            control.updateStatus {
                $0.phase = .running
                $0.restoredFromCheckpoint = restore?.metadata.checkpointId
            }
            let (outcome, lastCompleted, stopPath) = runAttempt(
                restore: restore, owner: owner, acceptLostTransactionsOf: acceptLostTransactionsOf)
            switch outcome {
            case .finished:
                if let stopPath {
                    control.updateStatus { $0.phase = .stoppedWithSavepoint }
                    return JobResult(status: .stoppedWithSavepoint(stopPath), restarts: restarts, lastCompletedCheckpoint: lastCompleted)
                }
                control.updateStatus { $0.phase = .finished }
                return JobResult(status: .finished, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
            case .cancelled:
                control.updateStatus { $0.phase = .cancelled }
                return JobResult(status: .cancelled, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
            case .failed(let error):
                if let lost = RestoredTransactionsLost.find(in: error) {
                    if let accepted = try answer(lost, restarts: restarts, rewindable: restore?.isWorkerRescale != true, logger: logger) {
                        acceptLostTransactionsOf = accepted
                    } else {
                        rewound = true
                    }
                    continue
                }
                let failedAfter = restarts
                // A non-restartable error skips the strategy: restarting would only repeat it.
                guard !endsTheJob(error), case .restart(let delay) = decider.onFailure(at: configuration.clock.nowMillis()) else {
                    logger.error("Job '\(configuration.jobName)' failed: \(error)")
                    control.updateStatus {
                        $0.phase = .failed
                        $0.lastFailure = "\(error)"
                    }
                    throw JobFailedError(underlying: error, restarts: failedAfter)
                }
                control.updateStatus {
                    $0.phase = .restarting
                    $0.restarts = decider.restarts
                    $0.lastFailure = "\(error)"
                }
                restartCounter.increment()
                logger.warning("Job '\(configuration.jobName)' failed (\(error)); restart \(restarts) in \(delay) ms.")
                control.sleep(millis: delay, clock: configuration.clock)
                if control.isCancelled {
                    return JobResult(status: .cancelled, restarts: restarts, lastCompletedCheckpoint: lastCompleted)
                }
            }
        }
    }

    /// Answers transactions a restored checkpoint promised and the broker aborted: rewinds to the
    /// newest checkpoint of the job's storage older than the oldest lost one when nothing of that one
    /// or newer was committed (returns nil: restore it; the replay makes the output exact), else goes on
    /// under `LostTransactionsPolicy.continue` (returns the checkpoint whose loss the next attempt
    /// accepts), else fails the job without a restart (a restart would find the same).
    private func answer(_ lost: RestoredTransactionsLost, restarts: Int, rewindable: Bool, logger: Logger) throws -> Int64? {
        metrics.jobCounter("sluice_lost_transactions_total").increment(by: lost.lost.count)
        let named = initialSnapshot?.metadata.checkpointId ?? Int64.min
        if rewindable, let before = lost.rewindBefore, let target = storage.latestCompleted(before: before, logger: logger),
           target.checkpointId > named {
            logger.error("\(lost). None of them was committed: restoring checkpoint \(target.checkpointId) instead and replaying from its offsets, so the output stays exact.")
            storage.removeNewer(than: target.checkpointId, logger: logger)
            metrics.jobCounter("sluice_checkpoint_rewinds_total").increment()
            control.updateStatus {
                $0.phase = .restarting
                $0.lostTransactions = LostTransactionsStatus(
                    action: .rewound, checkpointId: lost.restoredCheckpointId, rewoundTo: target.checkpointId, missing: lost.lost)
            }
            return nil
        }
        if configuration.lostTransactions == .continue {
            logger.error("\(lost). Going on without them (--on-lost-transactions continue).")
            control.updateStatus {
                $0.phase = .restarting
                $0.lostTransactions = LostTransactionsStatus(action: .continued, checkpointId: lost.restoredCheckpointId, missing: lost.lost)
            }
            return lost.restoredCheckpointId
        }
        let failure = lost.failure()
        logger.error("Job '\(configuration.jobName)' failed: \(failure)")
        control.updateStatus {
            $0.phase = .failed
            $0.lastFailure = failure.description
            $0.lostTransactions = LostTransactionsStatus(action: .failed, checkpointId: lost.restoredCheckpointId, missing: lost.lost)
        }
        throw JobFailedError(underlying: failure, restarts: restarts)
    }

    /// One attempt: plan chains, create gates, start a thread per task subtask and the coordinator.
    private func runAttempt(
        restore restoreSource: RestoreSource?, owner: CheckpointOwner, acceptLostTransactionsOf: Int64?
    ) -> (AttemptMonitor.Outcome, Int64?, String?) {
        let logger = configuration.logger
        let firstCheckpointId = (restoreSource?.metadata.checkpointId ?? 0) + 1
        let monitor = AttemptMonitor()
        var checkpointing = configuration.checkpointing
        checkpointing.owner = owner
        let coordinator = CheckpointCoordinatorDriver(
            config: checkpointing, storage: storage, clock: configuration.clock, logger: logger,
            metrics: metrics, faultInjector: configuration.faultInjector ?? .disabled, firstCheckpointId: firstCheckpointId,
            onFailure: { monitor.fail($0) },
            onCompleted: { [control] id, durationMillis, bytes in
                control.updateStatus {
                    $0.lastCompletedCheckpoint = id
                    $0.lastCheckpointDurationMillis = durationMillis
                    $0.lastCheckpointBytes = bytes
                    $0.lastCheckpointCompletedAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
                }
            },
            history: control.checkpointHistory)
        let chains = ExecutionPlanner.chains(vertices, chaining: configuration.chaining)
        var settings = TaskSettings(
            logger: logger, metrics: metrics, clock: configuration.clock, faultInjector: configuration.faultInjector ?? .disabled,
            storage: storage, batchSize: configuration.batchSize, bufferTimeoutMillis: configuration.bufferTimeout.wholeMilliseconds,
            sourceIdleWaitMillis: configuration.sourceIdleWait.wholeMilliseconds, checkpointingMode: configuration.checkpointing.mode,
            stateBackend: configuration.stateBackend)
        settings.checkpointInterval = configuration.checkpointing.intervalMillis.map { .milliseconds($0) }
        settings.acceptLostTransactionsOf = acceptLostTransactionsOf
        settings.unaligned = configuration.checkpointing.unalignedPolicy(clock: configuration.clock)

        let (specs, coordinated) = ExecutionPlanner.tasks(
            chains: chains, vertices: vertices, channelCapacity: configuration.channelCapacity, restore: restoreSource,
            settings: settings, coordinator: coordinator, firstCheckpointId: firstCheckpointId)
        coordinator.register(tasks: coordinated, vertices: vertices)
        monitor.setUp(inboxes: coordinated.map(\.inbox), coordinator: coordinator)
        guard control.attach(monitor, coordinator: coordinator) else { return (.cancelled, nil, nil) }
        defer { control.detach() }

        for spec in specs {
            monitor.launch(name: "sluice \(spec.name)", stackSize: 4 << 20) {
                do {
                    try StreamTask(spec: spec).run()
                } catch {
                    if !(error is TaskCancelled) { spec.settings.logger.error("Task \(spec.name) failed: \(error)") }
                    throw error
                }
            }
        }
        monitor.launch(name: "sluice checkpoint coordinator") { coordinator.run() }
        let outcome = monitor.waitForEnd()
        coordinator.stop()
        return (outcome, coordinator.lastCompleted, coordinator.stoppedWithSavepoint)
    }
}
