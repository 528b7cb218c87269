import Foundation
import Synchronization

/// Processing time in milliseconds. Injected so tests control timers, idleness and checkpoint
/// intervals without sleeping.
public protocol RuntimeClock: Sendable {
    func nowMillis() -> Int64
    /// True when time advances by itself; waits are then sized to the next due time. A manual
    /// clock makes waiting tasks re-check it every few milliseconds instead.
    var isRealTime: Bool { get }
}

/// Wall-clock time.
public struct SystemClock: RuntimeClock {
    public init() {}
    public func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    public var isRealTime: Bool { true }
}

/// A clock that only moves when told to.
public final class ManualClock: RuntimeClock {
    private let now: Atomic<Int64>

    public init(startMillis: Int64 = 0) {
        now = Atomic(startMillis)
    }

    public func nowMillis() -> Int64 { now.load(ordering: .acquiring) }
    public var isRealTime: Bool { false }

    public func advance(byMillis delta: Int64) {
        now.add(delta, ordering: .acquiringAndReleasing)
    }

    public func set(millis: Int64) {
        now.store(millis, ordering: .releasing)
    }
}
