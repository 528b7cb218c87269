/// The exact-output check for the click-count job: every (window, page) of the first `windows`
/// windows appears exactly once with count 1000 — no gaps, no duplicates, no wrong counts.
public struct ClickCountVerdict: Sendable, CustomStringConvertible {
    public struct WindowPage: Hashable, Sendable, Comparable {
        public var windowStart: Int64
        public var page: String
        public static func < (a: Self, b: Self) -> Bool { (a.windowStart, a.page) < (b.windowStart, b.page) }
    }

    public private(set) var missing: [WindowPage] = []
    public private(set) var duplicated: [WindowPage: Int] = [:]
    public private(set) var wrongCounts: [WindowPage: [Int64]] = [:]
    public private(set) var unexpected: [WindowPage] = []
    public private(set) var malformed = 0
    public let expectedWindows: Int
    public let recordsSeen: Int

    /// - Parameters:
    ///   - outputValues: the values of the committed output records (read with a read_committed oracle).
    ///   - windows: how many complete windows the generator wrote (windows 0..<windows must be there).
    ///   - allowFurtherWindows: later windows may appear (the generator wrote a partial one) but must be exact too.
    public init(outputValues: [[UInt8]], windows: Int, allowFurtherWindows: Bool = true) {
        expectedWindows = windows
        recordsSeen = outputValues.count
        var seen: [WindowPage: [Int64]] = [:]
        for value in outputValues {
            guard let stats = ClickEventStatistics.decode(value),
                  stats.windowEnd - stats.windowStart == ClickEventSequence.windowSizeMilliseconds
            else {
                malformed += 1
                continue
            }
            seen[WindowPage(windowStart: stats.windowStart, page: stats.page), default: []].append(stats.count)
        }
        let size = ClickEventSequence.windowSizeMilliseconds
        for window in 0..<windows {
            for page in ClickEventSequence.pages {
                let key = WindowPage(windowStart: Int64(window) * size, page: page)
                if seen[key] == nil { missing.append(key) }
            }
        }
        for (key, counts) in seen {
            let index = key.windowStart / size
            let known = ClickEventSequence.pages.contains(key.page) && key.windowStart % size == 0 && index >= 0
            if !known || (!allowFurtherWindows && index >= windows) {
                unexpected.append(key)
                continue
            }
            if counts.count > 1 { duplicated[key] = counts.count }
            if counts.contains(where: { $0 != ClickEventSequence.eventsPerWindow }) { wrongCounts[key] = counts }
        }
        missing.sort()
        unexpected.sort()
    }

    public var isExact: Bool {
        missing.isEmpty && duplicated.isEmpty && wrongCounts.isEmpty && unexpected.isEmpty && malformed == 0
    }

    public var description: String {
        if isExact {
            return "EXACT: \(expectedWindows) windows x \(ClickEventSequence.pages.count) pages, each once with count "
                + "\(ClickEventSequence.eventsPerWindow) (\(recordsSeen) committed records)"
        }
        var parts = ["NOT EXACT (\(recordsSeen) committed records, \(expectedWindows) windows expected):"]
        func show(_ keys: [WindowPage]) -> String {
            keys.prefix(10).map { "\($0.windowStart / 1000)s\($0.page)" }.joined(separator: ", ")
                + (keys.count > 10 ? " and \(keys.count - 10) more" : "")
        }
        if !missing.isEmpty { parts.append("missing \(missing.count): \(show(missing))") }
        if !duplicated.isEmpty { parts.append("duplicated \(duplicated.count): \(show(duplicated.keys.sorted()))") }
        if !wrongCounts.isEmpty {
            parts.append("wrong counts \(wrongCounts.count): "
                + wrongCounts.sorted { $0.key < $1.key }.prefix(10).map { "\($0.key.windowStart / 1000)s\($0.key.page)=\($0.value)" }.joined(separator: ", "))
        }
        if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(show(unexpected))") }
        if malformed > 0 { parts.append("malformed records: \(malformed)") }
        return parts.joined(separator: "\n  ")
    }
}
