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
    public let checkpointId: Int64
    let action: Action
    private let fired = Atomic<Bool>(false)

    public init(point: CrashPoint, checkpointId: Int64, action: Action = .throwError) {
        self.point = point
        self.checkpointId = checkpointId
        self.action = action
    }

    private init() {
        point = nil
        checkpointId = 0
        action = .throwError
    }

    public static let disabled = FaultInjector()

    /// Reads `SLUICE_CRASH_AT=<point>:<checkpointId>` (e.g. `afterPreCommit:3`); the crash kills
    /// the process. Returns `.disabled` when unset; throws on a malformed value.
    /// `SLUICE_PAUSE_AT=<point>:<checkpointId>` stops the process there instead (SIGSTOP).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FaultInjector {
        for (variable, action) in [("SLUICE_CRASH_AT", Action.killProcess), ("SLUICE_PAUSE_AT", .stopProcess)] {
            guard let value = environment[variable], !value.isEmpty else { continue }
            let parts = value.split(separator: ":")
            guard parts.count == 2, let point = CrashPoint(rawValue: String(parts[0])), let id = Int64(parts[1]) else {
                throw RuntimeConfigurationError.invalid(
                    "\(variable)='\(value)' is not '<point>:<checkpointId>' with point one of "
                        + CrashPoint.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return FaultInjector(point: point, checkpointId: id, action: action)
        }
        return .disabled
    }

    public var hasFired: Bool { fired.load(ordering: .acquiring) }

    /// Passes through a crash point; crashes when it is the armed one.
    func hit(_ point: CrashPoint, checkpointId: Int64) throws {
        guard let armed = self.point, armed == point, checkpointId == self.checkpointId else { return }
        guard fired.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        switch action {
        case .killProcess:
            FileHandle.standardError.write(Data("sluice: crash point \(point.rawValue) at checkpoint \(checkpointId): SIGKILL\n".utf8))
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
