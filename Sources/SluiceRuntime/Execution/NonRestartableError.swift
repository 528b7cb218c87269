/// An error after which restarting cannot help, because something outside the job decides it (for
/// example another job took over the job's transactional ids): the restart strategy is not
/// consulted, and the job fails at once with this error.
public protocol NonRestartableError: Error {}

/// Whether a task's failure ends the job without a restart.
func endsTheJob(_ error: any Error) -> Bool {
    if error is any NonRestartableError { return true }
    if let failure = error as? TaskFailure { return endsTheJob(failure.underlying) }
    return false
}
