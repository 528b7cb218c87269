import Foundation
import Synchronization
import Testing
@testable import SluiceRuntime

@Suite struct RestartStrategyTests {
    typealias Decision = RestartDecider.Decision

    @Test func noneAndFixedDelay() {
        var none = RestartDecider(.none)
        guard case .giveUp = none.onFailure(at: 0) else {
            Issue.record("none restarted")
            return
        }
        var fixed = RestartDecider(.fixedDelay(attempts: 2, delay: .milliseconds(30)))
        #expect(fixed.onFailure(at: 0) == .restart(afterMillis: 30))
        #expect(fixed.onFailure(at: 100_000) == .restart(afterMillis: 30))
        guard case .giveUp = fixed.onFailure(at: 200_000) else {
            Issue.record("fixedDelay restarted a third time")
            return
        }
        #expect(fixed.restarts == 2)
    }

    /// At most 2 failures in any 1 s: a third inside the interval gives up; failures that left
    /// the interval no longer count.
    @Test func failureRateCountsFailuresInsideTheInterval() {
        var decider = RestartDecider(.failureRate(maxFailures: 2, interval: .seconds(1), delay: .milliseconds(250)))
        #expect(decider.onFailure(at: 0) == .restart(afterMillis: 250))
        #expect(decider.onFailure(at: 600) == .restart(afterMillis: 250))
        #expect(decider.onFailure(at: 1_000) == .restart(afterMillis: 250))  // the failure at 0 left the interval
        #expect(decider.onFailure(at: 1_700) == .restart(afterMillis: 250))  // 600 left too
        guard case .giveUp(let reason) = decider.onFailure(at: 1_800) else {
            Issue.record("a third failure within the interval was restarted")
            return
        }
        #expect(reason.contains("3 failures"))
        #expect(decider.restarts == 4)
    }

    /// Delays grow by the multiplier up to the maximum; a run longer than resetAfter starts over.
    @Test func exponentialDelayGrowsCapsAndResets() {
        var decider = RestartDecider(.exponentialDelay(initial: .milliseconds(100), max: .seconds(1), multiplier: 2, resetAfter: .seconds(10)))
        var now: Int64 = 0
        var delays: [Int64] = []
        for _ in 0..<6 {
            guard case .restart(let delay) = decider.onFailure(at: now) else {
            Issue.record("exponentialDelay gave up")
            return
        }
            delays.append(delay)
            now += delay + 50  // fails again 50 ms after each restart
        }
        #expect(delays == [100, 200, 400, 800, 1_000, 1_000])
        // Ran 10 s since the last restart: back to the initial delay.
        #expect(decider.onFailure(at: now - 50 + 10_000) == .restart(afterMillis: 100))
        #expect(decider.onFailure(at: now + 10_100) == .restart(afterMillis: 200))
    }

    @Test func invalidSettingsAreRefused() {
        let env = StreamExecutionEnvironment(testConfiguration(restart: .exponentialDelay(
            initial: .seconds(2), max: .seconds(1), multiplier: 2, resetAfter: .seconds(60))))
        env.fromCollection([1]).sinkTo(CollectingSink(into: CollectedValues<Int>()))
        #expect(throws: RuntimeConfigurationError.self) { try env.execute() }
        #expect(throws: RuntimeConfigurationError.self) {
            try RestartStrategy.failureRate(maxFailures: 0, interval: .seconds(1), delay: .zero).validate()
        }
    }

    /// A job whose first attempts fail: the manual clock (moved by the failing source) decides
    /// whether the failures fall inside failureRate's interval.
    @Test(arguments: [(Int64(1_000), true), (Int64(10), false)])
    func failureRateInAJob(clockStepPerFailure: Int64, finishes: Bool) throws {
        let clock = ManualClock()
        let attempts = Atomic<Int>(0)
        let env = StreamExecutionEnvironment(testConfiguration(
            restart: .failureRate(maxFailures: 1, interval: .milliseconds(500), delay: .zero), clock: clock))
        let output = CollectedValues<Int>()
        env.fromSource(CollectionSource([1, 2, 3], onEmit: { index in
            guard index == 1 else { return }
            if attempts.add(1, ordering: .relaxed).newValue <= 3 {
                clock.advance(byMillis: clockStepPerFailure)
                throw InjectedFault(point: .afterSnapshot, checkpointId: 0)
            }
        }), name: "failing")
            .sinkTo(CollectingSink(into: output))
        if finishes {
            let result = try env.execute()
            #expect(result.status == .finished)
            #expect(result.restarts == 3)
        } else {
            do {
                try env.execute()
                Issue.record("the job did not fail")
            } catch let error as JobFailedError {
                #expect(error.restarts == 1)
            }
        }
    }

    /// exponentialDelay never gives up on its own (tiny real delays; only the count is checked).
    @Test func exponentialDelayInAJob() throws {
        let attempts = Atomic<Int>(0)
        let env = StreamExecutionEnvironment(testConfiguration(
            restart: .exponentialDelay(initial: .milliseconds(1), max: .milliseconds(4), multiplier: 2, resetAfter: .seconds(60))))
        env.fromSource(CollectionSource([1, 2, 3], onEmit: { index in
            if index == 1, attempts.add(1, ordering: .relaxed).newValue <= 5 {
                throw InjectedFault(point: .afterSnapshot, checkpointId: 0)
            }
        }), name: "failing")
            .sinkTo(CollectingSink(into: CollectedValues<Int>()))
        let result = try env.execute()
        #expect(result.status == .finished)
        #expect(result.restarts == 5)
    }
}
