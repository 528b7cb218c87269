// A job run as several worker processes (issue 15, first steps): each worker reads its share of the
// source partitions and runs the whole pipeline for it, with its own checkpoints and transactional
// ids. Keyed exchanges between workers do not exist yet, so a job that needs them is refused.
import Foundation
import Logging
import SluiceKafkaConnector
import SluiceRuntime

/// Where a worker's index comes from when `--worker-index` is not given: a StatefulSet pod's host
/// name ends in `-<ordinal>` (click-count-2).
enum WorkerOrdinal {
    /// The trailing `-<n>` of a host name; nil when there is none.
    static func parse(hostName: String) -> Int? {
        guard let dash = hostName.lastIndex(of: "-") else { return nil }
        let digits = hostName[hostName.index(after: dash)...]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// The worker share the options and the environment describe.
    static func share(workers: Int, index: Int?, environment: [String: String]) throws(JobSettingsError) -> KafkaWorkerShare {
        guard workers >= 1 else { throw .invalid("--workers must be at least 1 (got \(workers))") }
        let resolved: Int
        if let index {
            resolved = index
        } else if workers == 1 {
            resolved = 0
        } else {
            let host = environment["HOSTNAME"] ?? ""
            guard let ordinal = parse(hostName: host) else {
                throw .invalid(
                    "--workers \(workers) needs this process's index: give --worker-index (0 to \(workers - 1)), or run it where "
                    + "$HOSTNAME ends in -<ordinal> as a Kubernetes StatefulSet pod's does (e.g. click-count-2); "
                    + "$HOSTNAME is '\(host)'")
            }
            resolved = ordinal
        }
        guard let share = KafkaWorkerShare(workers: workers, index: resolved) else {
            throw .invalid(
                "the worker index \(resolved)\(index == nil ? " (from $HOSTNAME)" : "") must be between 0 and \(workers - 1) for --workers \(workers): "
                + "a StatefulSet's replicas must equal --workers")
        }
        return share
    }
}

extension JobSettings {
    /// Gives this worker its own checkpoint folder (`<dir>/worker-<i>`), savepoint folder and
    /// transactional-id prefix (`<prefix>-w<i>`): workers must not restore each other's checkpoints,
    /// and their sinks must not fence each other's producers. One process (`--workers 1`) keeps the
    /// names as given, so existing deployments restore as before.
    mutating func deriveWorkerNames(savepointDirectoryGiven: Bool) {
        if let old = rescaleFromWorkers, let root = checkpointDirectory {
            rescaleFromFolders = old == 1 ? [root] : (0..<old).map { root + "/worker-\($0)" }
            if let base = transactionalIdPrefix, !base.isEmpty {
                let prefixes = { (count: Int) in count == 1 ? [base] : (0..<count).map { "\(base)-w\($0)" } }
                let current = Set(prefixes(worker.workers))
                retiredTransactionalIdPrefixes = prefixes(old).enumerated()
                    .filter { !current.contains($0.element) && $0.offset % worker.workers == worker.index }.map(\.element)
            }
        }
        guard worker.workers > 1 else { return }
        let index = worker.index
        if let checkpointDirectory {
            let own = checkpointDirectory + "/worker-\(index)"
            self.checkpointDirectory = own
            if !savepointDirectoryGiven { savepointDirectory = own + "/savepoints" }
        }
        if savepointDirectoryGiven, let savepointDirectory { self.savepointDirectory = savepointDirectory + "/worker-\(index)" }
        if let transactionalIdPrefix, !transactionalIdPrefix.isEmpty { self.transactionalIdPrefix = transactionalIdPrefix + "-w\(index)" }
    }

    /// Refuses a job of several workers whose graph moves records between subtasks by key or to
    /// every subtask (keyBy, broadcast): each worker would see only its share of a key's records or
    /// of the broadcast input, and count or join them apart. Forward and rebalance exchanges stay
    /// inside a worker and see whole partitions. `keysFollowPartitions` is the author's or operator's
    /// word that the input is partitioned by the job's keys, so a worker holds every record of its keys.
    func verifyWorkerExchanges(_ graph: JobGraphDescription, exchangeReaders: Set<String> = []) throws(JobBuildError) {
        guard worker.workers > 1, !keysFollowPartitions else { return }
        let names = Dictionary(graph.vertices.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        // A keyed edge out of a repartition topic's reader stays inside the worker: the reader
        // holds every record of the worker's key groups.
        let crossing = graph.edges.filter {
            ($0.partitioning == "hash" && !exchangeReaders.contains(names[$0.source] ?? "")) || $0.partitioning == "broadcast"
        }
        guard !crossing.isEmpty else { return }
        let described = crossing.map { "\(names[$0.source] ?? "\($0.source)") -> \(names[$0.target] ?? "\($0.target)") (\($0.partitioning == "hash" ? "keyBy" : "broadcast"))" }
        throw .exchangeAcrossWorkers(workers: worker.workers, edges: described)
    }
}

extension JobSettings {
    /// Refuses a rescale of a keyed job between one process and several workers: keyed streams
    /// cross a repartition topic only with several workers, so one side's snapshots hold the
    /// exchange's state (positions, promised transactions) and the other side's graph has no place
    /// for it; the promised records would be lost.
    func verifyKeyedRescale(_ graph: JobGraphDescription) throws(JobBuildError) {
        guard let old = rescaleFromWorkers, (old > 1) != (worker.workers > 1), !keysFollowPartitions else { return }
        guard graph.edges.contains(where: { $0.partitioning == "hash" }) else { return }
        throw .keyedRescaleAcrossOneProcess(from: old, to: worker.workers)
    }
}

/// Refuses a worker's fresh start next to checkpoints written under another number of workers.
/// The runtime refuses to restore a snapshot of another layout, but a worker whose own folder is
/// empty (worker 2 when the job ran as 2 workers before, or every worker after a single process)
/// would start from the initial offsets and read again what the old layout already wrote.
enum WorkerCheckpointSurvey {
    /// The folders beside this worker's own that hold other layouts' checkpoints: the root (a
    /// single process's) and its `worker-<j>` folders.
    static func verify(_ settings: JobSettings, logger: Logger) throws(CheckpointOwnershipError) {
        guard settings.restoreFrom == nil, settings.rescaleFromWorkers == nil, let own = settings.checkpointDirectory else { return }
        let current = WorkerLayout(workers: settings.worker.workers, index: settings.worker.index) ?? .single
        let files = FileManager.default
        let ownEntries = (try? files.contentsOfDirectory(atPath: own)) ?? []
        // A worker with checkpoints of its own, or a stop savepoint, is checked by the runtime's restore.
        guard !ownEntries.contains(where: { $0.hasPrefix("chk-") || $0 == "_stopped-with-savepoint" }) else { return }
        var root = own
        if current.workers > 1 {
            // Only the folder deriveWorkerNames made: a job that chose its own folder keeps its choice.
            guard (own as NSString).lastPathComponent == "worker-\(current.index)" else { return }
            root = (own as NSString).deletingLastPathComponent
        }
        var candidates = current.workers > 1 ? [root] : []
        let siblings = ((try? files.contentsOfDirectory(atPath: root)) ?? [])
            .filter { $0.hasPrefix("worker-") && Int($0.dropFirst("worker-".count)) != nil }.sorted()
        candidates += siblings.map { root + "/" + $0 }.filter { $0 != own }
        for folder in candidates {
            let storage = FileSystemCheckpointStorage(directory: folder)
            guard let latest = storage.latestCompleted(logger: logger) else { continue }
            let recorded = latest.owner?.workers ?? .single
            if recorded.workers != current.workers {
                throw .workerCountChangedBeside(
                    snapshot: "checkpoint \(latest.checkpointId) (\(storage.folder(latest.checkpointId)))",
                    recorded: recorded, current: current)
            }
        }
    }
}
