/// An error after which restarting cannot help, because something outside the job decides it (for
/// example another job took over the job's transactional ids) or because the restart would only
/// replay into the same failure: the restart strategy is not consulted, and the job fails at once
/// with this error. An error type only some of whose values are such errors (an enum of a
/// connector's errors) says which through `restartCannotHelp`.
public protocol NonRestartableError: Error {
    /// Whether this error ends the job without a restart; true unless the type says otherwise.
    var restartCannotHelp: Bool { get }
}

extension NonRestartableError {
    public var restartCannotHelp: Bool { true }
}

/// Whether a task's failure ends the job without a restart.
func endsTheJob(_ error: any Error) -> Bool {
    if let final = error as? any NonRestartableError { return final.restartCannotHelp }
    if let failure = error as? TaskFailure { return endsTheJob(failure.underlying) }
    return false
}
