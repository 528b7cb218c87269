import Foundation
import Testing
@testable import SluiceClickCount

@Suite struct ClickEventDecoderTests {
    func decode(_ text: String) throws(ClickEventFormatError) -> ClickEvent {
        try ClickEvent.decode(Array(text.utf8))
    }

    @Test func acceptsThePlaygroundShapeWithWhitespaceAnyOrderAndExtraMembers() throws {
        let expected = ClickEvent(timestamp: 451_320, page: "/news")
        #expect(try decode(#"{"timestamp":"01-01-1970 12:07:31:320","page":"/news"}"#) == expected)
        #expect(try decode(#"{"page":"/news","timestamp":"01-01-1970 12:07:31:320"}"#) == expected)
        #expect(try decode(" {\n\t\"timestamp\" : \"01-01-1970 12:07:31:320\" ,\r\n \"page\":\"/news\" } \n") == expected)
        #expect(try decode(#"{"user":{"id":[1,-2.5e3,true,false,null,{}],"name":"x"},"timestamp":"01-01-1970 12:07:31:320","page":"/news","n":0}"#)
            == expected)
    }

    @Test func decodesEscapesInStrings() throws {
        #expect(try decode(#"{"timestamp":"01-01-1970 12:07:31:320","page":"\/a\"b\\c\u00e9\ud83d\ude00"}"#)
            == ClickEvent(timestamp: 451_320, page: "/a\"b\\cé😀"))
        // An escaped member name still counts.
        #expect(try decode(#"{"timest\u0061mp":"01-01-1970 12:07:31:320","page":"/x"}"#) == ClickEvent(timestamp: 451_320, page: "/x"))
        #expect(try decode(#"{"timestamp":"01-01-1970 12:07:31:320","page":"/caf\u00e9"}"#).page == "/café")
        #expect(try decode("{\"timestamp\":\"01-01-1970 12:07:31:320\",\"page\":\"/café\"}").page == "/café")
    }

    @Test func refusesWhatIsNotJSON() {
        let notJSON = [
            "", "nope", "{", "{\"timestamp\":\"01-01-1970 12:07:31:320\",\"page\":\"/a\"", "{\"page\":\"/a\",}",
            "{\"page\":\"/a\"} x", "{'page':'/a'}", "{\"page\":\"/a\" \"timestamp\":\"x\"}", "{\"page\":01}",
            "{\"page\":\"a\nb\"}", "{\"page\":\"\\x\"}", "{\"page\":\"\\ud83d\"}", "{\"page\":tru}", "{\"page\":-}",
            "{\"page\":1.}", "{\"page\":[1,]}", String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ]
        for text in notJSON {
            #expect(throws: ClickEventFormatError.notJSON(preview: String(text.prefix(80)))) { try decode(text) }
        }
        // Invalid UTF-8 inside a string.
        let invalid: [UInt8] = Array(#"{"timestamp":"01-01-1970 12:07:31:320","page":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: ClickEventFormatError.self) { try ClickEvent.decode(invalid) }
    }

    @Test func saysWhichFieldIsMissingOrWrong() {
        #expect(throws: ClickEventFormatError.notAnObject(preview: "[1,2]")) { try decode("[1,2]") }
        #expect(throws: ClickEventFormatError.missingField("timestamp", preview: #"{"page":"/a"}"#)) { try decode(#"{"page":"/a"}"#) }
        #expect(throws: ClickEventFormatError.missingField("page", preview: #"{"timestamp":"01-01-1970 12:07:31:320","page":5}"#)) {
            try decode(#"{"timestamp":"01-01-1970 12:07:31:320","page":5}"#)
        }
        #expect(throws: ClickEventFormatError.badTimestamp("01-01-1970 12:07:31")) {
            try decode(#"{"timestamp":"01-01-1970 12:07:31","page":"/a"}"#)
        }
    }

    /// The decoder must agree with Foundation's JSONSerialization (the decoder it replaced) on the
    /// generator's events, including every page, a day boundary, and a time past 12 hours of a day
    /// (where the 12-hour clock without AM/PM reads the hour as AM, as the playground does).
    @Test func agreesWithJSONSerializationOnTheGeneratorsOutput() throws {
        let indices: [Int64] = [0, 1, 5, 6, 5999, 6000, 5_760_000 * 6, 123_456_789]
        for index in indices {
            let bytes = ClickEventSequence.event(at: index).jsonBytes()
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let text = try #require(fields["timestamp"] as? String)
            let reference = ClickEvent(timestamp: try #require(PlaygroundTimestamp.parse(text)), page: try #require(fields["page"] as? String))
            #expect(try ClickEvent.decode(bytes) == reference)
            #expect(try ClickEvent.decode(bytes[...]) == reference)
        }
        // Within the first 12 hours the round trip is exact.
        let event = ClickEventSequence.event(at: 5999)
        #expect(try ClickEvent.decode(event.jsonBytes()) == event)
    }
}
