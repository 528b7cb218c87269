import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Named points of the checkpoint protocol where a crash tests exactly-once.
public enum CrashPoint: String, Sendable, CaseIterable {
    /// A task wrote its snapshot, before it acknowledged.
    case afterSnapshot
    /// A two-phase-commit sink pre-committed at the barrier; the checkpoint is not complete.
    case afterPreCommit
    /// Every task acknowledged; the metadata is not written yet.
    case beforeCheckpointComplete
    /// The metadata is durable (the checkpoint is complete); no notification was delivered yet.
    case afterCheckpointCompleteBeforeCommit
    /// The first sink subtask committed; the others have not yet.
    case betweenSubtaskCommits
    /// Every subtask was notified of the completed checkpoint.
    case afterCommit
}

/// The error an injected fault throws in tests.
public struct InjectedFault: Error, CustomStringConvertible {
    public let point: CrashPoint
    public let checkpointId: Int64
    public var description: String { "Injected fault at \(point.rawValue) of checkpoint \(checkpointId)." }
}

/// Crashes the job at one named point of one checkpoint, once. In production mode the process is
/// killed with SIGKILL (nothing is cleaned up, as in a real crash); tests inject an action that
/// throws, which fails the job like a crash of every task at once.
///
/// `SLUICE_CRASH_AT=POINT:N` counts per process: N is the Nth checkpoint this process takes, since
/// a restored job continues the checkpoint ids of its snapshot (a schedule of crash runs cannot
/// know them). The injector learns the first id from the lowest one passing any crash point.
public final class FaultInjector: Sendable {
    public enum Action: Sendable {
        case killProcess
        /// Stops the process (SIGSTOP) at the point, so that a test can break something else there
        /// (e.g. kill the broker between pre-commit and commit) and then let it go on with SIGCONT.
        case stopProcess
        case throwError
        case custom(@Sendable (CrashPoint, Int64) throws -> Void)
    }

    public let point: CrashPoint?
    /// The checkpoint id, or with `countsPerProcess` the ordinal (1 = this process's first checkpoint).
    public let checkpointId: Int64
    public let countsPerProcess: Bool
    let action: Action
    private let fired = Atomic<Bool>(false)
    /// The lowest checkpoint id seen at any crash point: this process's first checkpoint.
    private let firstSeenId = Atomic<Int64>(Int64.max)

    public convenience init(point: CrashPoint, checkpointId: Int64, action: Action = .throwError) {
        self.init(point: point, checkpointId: checkpointId, countsPerProcess: false, action: action)
    }

    /// With `countsPerProcess`, `checkpointId` is N: the Nth checkpoint this process takes.
    public init(point: CrashPoint, checkpointId: Int64, countsPerProcess: Bool, action: Action = .throwError) {
        self.point = point
        self.checkpointId = checkpointId
        self.countsPerProcess = countsPerProcess
        self.action = action
    }

    private init() {
        point = nil
        checkpointId = 0
        countsPerProcess = false
        action = .throwError
    }

    public static let disabled = FaultInjector()

    /// Reads `SLUICE_CRASH_AT=<point>:<N>` (e.g. `afterPreCommit:3`: at the third checkpoint this
    /// process takes); the crash kills the process. `SLUICE_PAUSE_AT=<point>:<N>` stops the process
    /// there instead (SIGSTOP), for a test to break something else at that moment and then SIGCONT it.
    /// Returns `.disabled` when neither is set; throws on a malformed value.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FaultInjector {
        for (variable, action) in [("SLUICE_CRASH_AT", Action.killProcess), ("SLUICE_PAUSE_AT", .stopProcess)] {
            guard let value = environment[variable], !value.isEmpty else { continue }
            let parts = value.split(separator: ":")
            guard parts.count == 2, let point = CrashPoint(rawValue: String(parts[0])), let ordinal = Int64(parts[1]), ordinal >= 1 else {
                throw RuntimeConfigurationError.invalid(
                    "\(variable)='\(value)' is not '<point>:<N>' (N >= 1: the Nth checkpoint of this process) with point one of "
                        + CrashPoint.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return FaultInjector(point: point, checkpointId: ordinal, countsPerProcess: true, action: action)
        }
        return .disabled
    }

    public var hasFired: Bool { fired.load(ordering: .acquiring) }

    /// Passes through a crash point; crashes when it is the armed one.
    func hit(_ point: CrashPoint, checkpointId: Int64) throws {
        guard let armed = self.point else { return }
        var target = self.checkpointId
        if countsPerProcess {
            let first = min(checkpointId, firstSeenId.min(checkpointId, ordering: .relaxed).oldValue)
            target = first + self.checkpointId - 1
        }
        guard armed == point, checkpointId == target else { return }
        guard fired.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        switch action {
        case .killProcess:
            let ordinal = countsPerProcess ? " (checkpoint \(self.checkpointId) of this process)" : ""
            FileHandle.standardError.write(Data("sluice: crash point \(point.rawValue) at checkpoint \(checkpointId)\(ordinal): SIGKILL\n".utf8))
            kill(getpid(), SIGKILL)
            throw InjectedFault(point: point, checkpointId: checkpointId)
        case .stopProcess:
            FileHandle.standardError.write(Data("sluice: pause point \(point.rawValue) at checkpoint \(checkpointId): SIGSTOP\n".utf8))
            kill(getpid(), SIGSTOP)
        case .throwError:
            throw InjectedFault(point: point, checkpointId: checkpointId)
        case .custom(let body):
            try body(point, checkpointId)
        }
    }
}
