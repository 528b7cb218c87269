import DequeModule

/// How a job restarts after a failure inside the process (Flink's restart strategies). Times are
/// measured on `RuntimeConfiguration.clock`.
public enum RestartStrategy: Sendable, Equatable {
    /// Fail the job at the first failure.
    case none
    /// Restart up to `attempts` times, waiting `delay` before each restart.
    case fixedDelay(attempts: Int, delay: Duration)
    /// Restart after `delay` as long as at most `maxFailures` failures happened within the last
    /// `interval` (this one included); the next failure inside the interval fails the job.
    case failureRate(maxFailures: Int, interval: Duration, delay: Duration)
    /// Restart without limit, waiting `initial`, then `multiplier` times longer after each further
    /// failure, at most `max`; after the job ran `resetAfter` without failing, back to `initial`.
    case exponentialDelay(initial: Duration, max: Duration, multiplier: Double, resetAfter: Duration)

    /// Refuses settings that cannot work, saying what to change.
    func validate() throws {
        switch self {
        case .none:
            return
        case .fixedDelay(let attempts, let delay):
            guard attempts >= 0, delay >= .zero else {
                throw RuntimeConfigurationError.invalid("fixedDelay needs attempts >= 0 and a delay >= 0 (got \(attempts), \(delay)).")
            }
        case .failureRate(let maxFailures, let interval, let delay):
            guard maxFailures >= 1, interval > .zero, delay >= .zero else {
                throw RuntimeConfigurationError.invalid(
                    "failureRate needs maxFailures >= 1, a positive interval and a delay >= 0 (got \(maxFailures), \(interval), \(delay)).")
            }
        case .exponentialDelay(let initial, let max, let multiplier, let resetAfter):
            guard initial > .zero, max >= initial, multiplier >= 1, multiplier.isFinite, resetAfter > .zero else {
                throw RuntimeConfigurationError.invalid(
                    "exponentialDelay needs initial > 0, max >= initial, a finite multiplier >= 1 and resetAfter > 0 "
                        + "(got \(initial), \(max), \(multiplier), \(resetAfter)).")
            }
        }
    }
}

extension Duration {
    /// Whole milliseconds (rounded down), saturating.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        guard !millis.overflow else { return seconds < 0 ? Int64.min : Int64.max }
        let sum = millis.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return sum.overflow ? Int64.max : sum.partialValue
    }
}

/// Applies a `RestartStrategy` to the failures of one job run: whether to restart and after how
/// long. Pure (time is passed in), so the policies are tested without waiting.
struct RestartDecider {
    enum Decision: Equatable {
        case restart(afterMillis: Int64)
        case giveUp(reason: String)
    }

    let strategy: RestartStrategy
    private(set) var restarts = 0
    /// failureRate: failure times inside the current interval.
    private var failureTimes: Deque<Int64> = []
    /// exponentialDelay: the last delay and when the job was restarted after it.
    private var lastDelay: Int64?
    private var restartedAt: Int64?

    init(_ strategy: RestartStrategy) {
        self.strategy = strategy
    }

    mutating func onFailure(at now: Int64) -> Decision {
        let decision = decide(now: now)
        if case .restart(let delay) = decision {
            restarts += 1
            restartedAt = now + delay
        }
        return decision
    }

    private mutating func decide(now: Int64) -> Decision {
        switch strategy {
        case .none:
            return .giveUp(reason: "the restart strategy is none")
        case .fixedDelay(let attempts, let delay):
            guard restarts < attempts else { return .giveUp(reason: "all \(attempts) restart attempt(s) of fixedDelay are used up") }
            return .restart(afterMillis: delay.wholeMilliseconds)
        case .failureRate(let maxFailures, let interval, let delay):
            let window = interval.wholeMilliseconds
            failureTimes.append(now)
            while let first = failureTimes.first, now - first >= window { failureTimes.removeFirst() }
            guard failureTimes.count <= maxFailures else {
                return .giveUp(reason: "\(failureTimes.count) failures within \(interval) exceed failureRate's maximum of \(maxFailures)")
            }
            return .restart(afterMillis: delay.wholeMilliseconds)
        case .exponentialDelay(let initial, let max, let multiplier, let resetAfter):
            let first = initial.wholeMilliseconds
            var delay = first
            if let lastDelay, let restartedAt, now - restartedAt < resetAfter.wholeMilliseconds {
                let grown = (Double(lastDelay) * multiplier).rounded(.up)
                delay = grown >= Double(max.wholeMilliseconds) ? max.wholeMilliseconds : Int64(grown)
            }
            lastDelay = delay
            return .restart(afterMillis: delay)
        }
    }
}
