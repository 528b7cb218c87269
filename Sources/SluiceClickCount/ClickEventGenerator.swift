/// The playground's deterministic event sequence: pages round-robin, and per page an event-time
/// counter that starts at epoch 0 and steps `windowSize / eventsPerWindow` (15 ms), so every page
/// has exactly `eventsPerWindow` (1000) events in every window.
public struct ClickEventSequence: Sendable, IteratorProtocol, Sequence {
    public static let pages = ["/help", "/index", "/shop", "/jobs", "/about", "/news"]
    public static let windowSizeMilliseconds: Int64 = 15_000
    public static let eventsPerWindow: Int64 = 1000
    /// The playground generator's pause per record, so event time runs near wall-clock time.
    public static let delayMilliseconds: Int64 = windowSizeMilliseconds / Int64(pages.count) / eventsPerWindow

    /// Events in one window across all pages (6000).
    public static var eventsPerWindowAllPages: Int64 { eventsPerWindow * Int64(pages.count) }

    private var emitted: Int64

    /// - Parameter startingAt: the index of the first event, so a restarted generator can continue.
    public init(startingAt index: Int64 = 0) {
        emitted = index
    }

    /// The event with the given index in the infinite sequence.
    public static func event(at index: Int64) -> ClickEvent {
        let pageCount = Int64(pages.count)
        let page = pages[Int(index % pageCount)]
        let step = windowSizeMilliseconds / eventsPerWindow
        return ClickEvent(timestamp: (index / pageCount) * step, page: page)
    }

    public mutating func next() -> ClickEvent? {
        defer { emitted += 1 }
        return Self.event(at: emitted)
    }
}
