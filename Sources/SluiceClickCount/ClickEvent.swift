import Foundation
import SluiceRuntime

/// One page view of the playground: `{"timestamp":"01-01-1970 12:07:31:320","page":"/news"}`.
public struct ClickEvent: Hashable, Sendable {
    /// Event time, milliseconds since the Unix epoch.
    public var timestamp: Int64
    public var page: String

    public init(timestamp: Int64, page: String) {
        self.timestamp = timestamp
        self.page = page
    }

    /// The event as the playground writes it.
    public func jsonBytes() -> [UInt8] {
        Array("{\"timestamp\":\"\(PlaygroundTimestamp.format(millisecondsSinceEpoch: timestamp))\",\"page\":\"\(page)\"}".utf8)
    }

    /// Parses an event; throws `ClickEventFormatError` naming what is wrong. Strict JSON (see
    /// `ClickEventDecoder`); members other than `timestamp` and `page` are ignored.
    public static func decode(_ bytes: some Collection<UInt8>) throws(ClickEventFormatError) -> ClickEvent {
        let result: Result<ClickEvent, ClickEventFormatError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ClickEventFormatError) in try ClickEventDecoder.decode(buffer) }
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { buffer throws(ClickEventFormatError) in
            try ClickEventDecoder.decode(buffer)
        }
    }
}

/// Why an input record is not a click event.
public enum ClickEventFormatError: Error, Equatable, CustomStringConvertible {
    case notJSON(preview: String)
    case notAnObject(preview: String)
    case missingField(String, preview: String)
    case badTimestamp(String)

    public var description: String {
        switch self {
        case .notJSON(let preview): return "not JSON: \(preview)"
        case .notAnObject(let preview): return "JSON but not an object: \(preview)"
        case .missingField(let field, let preview): return "no string field '\(field)': \(preview)"
        case .badTimestamp(let text):
            return "timestamp '\(text)' does not match dd-MM-yyyy hh:mm:ss:SSS"
        }
    }
}

/// One window's count for one page: the job's output record.
public struct ClickEventStatistics: Hashable, Sendable, Codable {
    public var windowStart: Int64
    public var windowEnd: Int64
    public var page: String
    public var count: Int64

    public init(windowStart: Int64, windowEnd: Int64, page: String, count: Int64) {
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.page = page
        self.count = count
    }

    /// `{"windowStart":"01-01-1970 12:06:30:000","windowEnd":"01-01-1970 12:06:45:000","page":"/help","count":1000}`
    public func jsonBytes() -> [UInt8] {
        let start = PlaygroundTimestamp.format(millisecondsSinceEpoch: windowStart)
        let end = PlaygroundTimestamp.format(millisecondsSinceEpoch: windowEnd)
        return Array("{\"windowStart\":\"\(start)\",\"windowEnd\":\"\(end)\",\"page\":\"\(page)\",\"count\":\(count)}".utf8)
    }

    /// Parses an output record (used by the checks and the demo's table).
    public static func decode(_ bytes: some Collection<UInt8>) -> ClickEventStatistics? {
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
              let startText = fields["windowStart"] as? String, let start = PlaygroundTimestamp.parse(startText),
              let endText = fields["windowEnd"] as? String, let end = PlaygroundTimestamp.parse(endText),
              let page = fields["page"] as? String,
              let count = (fields["count"] as? NSNumber)?.int64Value
        else { return nil }
        return ClickEventStatistics(windowStart: start, windowEnd: end, page: page, count: count)
    }
}

/// Click events cross tasks under backpressure; as `BinaryCodable` they can be stored in flight
/// with an unaligned checkpoint.
extension ClickEvent: BinaryCodable {
    public func encode(to writer: inout BinaryWriter) {
        writer.writeInt64(timestamp)
        writer.writeString(page)
    }

    public init(from reader: inout BinaryReader) throws {
        self.init(timestamp: try reader.readInt64(), page: try reader.readString())
    }
}
