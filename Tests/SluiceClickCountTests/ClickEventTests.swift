import Testing
@testable import SluiceClickCount

@Suite struct PlaygroundTimestampTests {
    @Test func epochIsNoonOnTheTwelveHourClock() {
        #expect(PlaygroundTimestamp.format(millisecondsSinceEpoch: 0) == "01-01-1970 12:00:00:000")
        #expect(PlaygroundTimestamp.parse("01-01-1970 12:00:00:000") == 0)
    }

    @Test func matchesThePlaygroundsExamples() {
        // 7 min 31.320 s after the epoch, and a window of 15 s starting 6 min 30 s after it.
        #expect(PlaygroundTimestamp.format(millisecondsSinceEpoch: 451_320) == "01-01-1970 12:07:31:320")
        #expect(PlaygroundTimestamp.parse("01-01-1970 12:06:30:000") == 390_000)
        #expect(PlaygroundTimestamp.parse("01-01-1970 12:06:45:000") == 405_000)
    }

    @Test func afternoonHoursUseTheTwelveHourClock() {
        #expect(PlaygroundTimestamp.format(millisecondsSinceEpoch: 13 * 3_600_000) == "01-01-1970 01:00:00:000")
        #expect(PlaygroundTimestamp.format(millisecondsSinceEpoch: 86_400_000 + 5) == "02-01-1970 12:00:00:005")
    }

    @Test func roundTripsWithinTwelveHoursAcrossDates() {
        for millis: Int64 in [1, 999, 59_999, 3_599_999, 11 * 3_600_000 + 59 * 60_000 + 59_999,
                              1_700_000_000_000 - (1_700_000_000_000 % 86_400_000) + 1234] {
            let text = PlaygroundTimestamp.format(millisecondsSinceEpoch: millis)
            #expect(PlaygroundTimestamp.parse(text) == millis, "\(text)")
        }
        #expect(PlaygroundTimestamp.format(millisecondsSinceEpoch: 951_782_400_000) == "29-02-2000 12:00:00:000")
    }

    @Test func rejectsMalformedText() {
        for text in ["", "01-01-1970 12:00:00", "01-13-1970 12:00:00:000", "01-01-1970 13:00:00:000",
                     "aa-01-1970 12:00:00:000", "01/01/1970 12:00:00:000", "01-01-1970 00:00:00:000"] {
            #expect(PlaygroundTimestamp.parse(text) == nil, "\(text)")
        }
    }
}

@Suite struct ClickEventFormatTests {
    @Test func encodesAndDecodesThePlaygroundsJSON() throws {
        let event = ClickEvent(timestamp: 451_320, page: "/news")
        let json = String(decoding: event.jsonBytes(), as: UTF8.self)
        #expect(json == #"{"timestamp":"01-01-1970 12:07:31:320","page":"/news"}"#)
        #expect(try ClickEvent.decode(Array(json.utf8)) == event)
    }

    @Test func malformedEventsSayWhatIsWrong() {
        #expect(throws: ClickEventFormatError.notJSON(preview: "nope")) { try ClickEvent.decode(Array("nope".utf8)) }
        #expect(throws: ClickEventFormatError.missingField("page", preview: #"{"timestamp":"01-01-1970 12:00:00:000"}"#)) {
            try ClickEvent.decode(Array(#"{"timestamp":"01-01-1970 12:00:00:000"}"#.utf8))
        }
        #expect(throws: ClickEventFormatError.badTimestamp("yesterday")) {
            try ClickEvent.decode(Array(#"{"timestamp":"yesterday","page":"/a"}"#.utf8))
        }
    }

    @Test func statisticsUseThePlaygroundsOutputFormat() {
        let stats = ClickEventStatistics(windowStart: 390_000, windowEnd: 405_000, page: "/help", count: 1000)
        let json = String(decoding: stats.jsonBytes(), as: UTF8.self)
        #expect(json == #"{"windowStart":"01-01-1970 12:06:30:000","windowEnd":"01-01-1970 12:06:45:000","page":"/help","count":1000}"#)
        #expect(ClickEventStatistics.decode(Array(json.utf8)) == stats)
    }
}

@Suite struct ClickEventSequenceTests {
    @Test func everyPageHasAThousandEventsPerWindow() {
        var counts: [String: [Int64: Int]] = [:]
        for event in ClickEventSequence().prefix(Int(ClickEventSequence.eventsPerWindowAllPages * 3)) {
            counts[event.page, default: [:]][event.timestamp / 15_000, default: 0] += 1
        }
        #expect(counts.count == 6)
        for (_, windows) in counts { #expect(windows == [0: 1000, 1: 1000, 2: 1000]) }
    }

    @Test func pagesGoRoundRobinWithFifteenMillisecondSteps() {
        let first = Array(ClickEventSequence().prefix(8))
        #expect(first.map(\.page) == ["/help", "/index", "/shop", "/jobs", "/about", "/news", "/help", "/index"])
        #expect(first.map(\.timestamp) == [0, 0, 0, 0, 0, 0, 15, 15])
        #expect(ClickEventSequence.delayMilliseconds == 2)
        var resumed = ClickEventSequence(startingAt: 6)
        #expect(resumed.next() == ClickEvent(timestamp: 15, page: "/help"))
    }
}

@Suite struct ClickCountVerdictTests {
    func output(_ windows: Range<Int>, pages: [String] = ClickEventSequence.pages, count: Int64 = 1000) -> [[UInt8]] {
        windows.flatMap { window in
            pages.map { page in
                ClickEventStatistics(windowStart: Int64(window) * 15_000, windowEnd: Int64(window + 1) * 15_000,
                                     page: page, count: count).jsonBytes()
            }
        }
    }

    @Test func exactOutputPasses() {
        let verdict = ClickCountVerdict(outputValues: output(0..<3), windows: 3)
        #expect(verdict.isExact, "\(verdict)")
    }

    @Test func aGapFails() {
        let verdict = ClickCountVerdict(outputValues: output(0..<1) + output(2..<3), windows: 3)
        #expect(!verdict.isExact)
        #expect(verdict.missing.count == 6)
    }

    @Test func aDuplicateFails() {
        let verdict = ClickCountVerdict(outputValues: output(0..<3) + output(1..<2, pages: ["/shop"]), windows: 3)
        #expect(!verdict.isExact)
        #expect(verdict.duplicated.count == 1)
    }

    @Test func aWrongCountFails() {
        let verdict = ClickCountVerdict(outputValues: output(0..<2) + output(2..<3, count: 999), windows: 3)
        #expect(!verdict.isExact)
        #expect(verdict.wrongCounts.count == 6)
    }

    @Test func garbageFails() {
        let verdict = ClickCountVerdict(outputValues: output(0..<1) + [Array("junk".utf8)], windows: 1)
        #expect(!verdict.isExact)
        #expect(verdict.malformed == 1)
    }
}
