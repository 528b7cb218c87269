/// A strict, allocation-light decoder of one click event: a JSON object with the string members
/// `timestamp` (the playground's `dd-MM-yyyy hh:mm:ss:SSS`) and `page`, in any order, with optional
/// whitespace; other members are validated and ignored.
///
/// Written by hand: JSONSerialization built a dictionary of boxed values for every record and was
/// the click-count job's largest per-record cost; no listed package offers a streaming JSON reader.
/// It accepts exactly the JSON that JSONSerialization would (RFC 8259: no trailing commas,
/// comments, leading zeros or control characters in strings), so the malformed-record policy sees
/// the same records as malformed.
struct ClickEventDecoder {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Nesting limit for members the decoder skips; deeper input is refused as not JSON.
    private static let maxDepth = 64

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(ClickEventFormatError) -> ClickEvent {
        var decoder = ClickEventDecoder(bytes)
        return try decoder.event()
    }

    private struct Malformed: Error {}

    private var preview: String { String(decoding: bytes.prefix(80), as: UTF8.self) }

    private mutating func event() throws(ClickEventFormatError) -> ClickEvent {
        var timestamp: Field?
        var page: Field?
        do {
            skipWhitespace()
            guard peek == UInt8(ascii: "{") else {
                // Valid JSON of another kind is "not an object"; anything else is not JSON.
                try skipValue(depth: 0)
                skipWhitespace()
                guard index == bytes.count else { throw Malformed() }
                throw ClickEventFormatError.notAnObject(preview: preview)
            }
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    let key = try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                    if key.equals("timestamp", in: bytes) {
                        timestamp = peek == UInt8(ascii: "\"") ? try string() : nil
                        if timestamp == nil { try skipValue(depth: 1) }
                    } else if key.equals("page", in: bytes) {
                        page = peek == UInt8(ascii: "\"") ? try string() : nil
                        if page == nil { try skipValue(depth: 1) }
                    } else {
                        try skipValue(depth: 1)
                    }
                    skipWhitespace()
                    if peek == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        continue
                    }
                    try expect(UInt8(ascii: "}"))
                    break
                }
            }
            skipWhitespace()
            guard index == bytes.count else { throw Malformed() }
        } catch let error as ClickEventFormatError {
            throw error
        } catch {
            throw .notJSON(preview: preview)
        }
        guard let timestamp else { throw .missingField("timestamp", preview: preview) }
        guard let page else { throw .missingField("page", preview: preview) }
        let millis: Int64?
        if let unescaped = timestamp.unescaped {
            millis = PlaygroundTimestamp.parse(unescaped)
        } else {
            millis = PlaygroundTimestamp.parse(utf8: UnsafeBufferPointer(rebasing: bytes[timestamp.range]))
        }
        guard let millis else { throw .badTimestamp(timestamp.text(in: bytes)) }
        return ClickEvent(timestamp: millis, page: page.text(in: bytes))
    }

    // MARK: Strings

    /// A decoded JSON string: a range of the input when it has no escapes, else its unescaped text.
    private struct Field {
        let range: Range<Int>
        let unescaped: String?

        func text(in bytes: UnsafeBufferPointer<UInt8>) -> String {
            // The range was validated as UTF-8 when it was read.
            unescaped ?? String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }

        func equals(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            if let unescaped { return unescaped == "\(name)" }
            guard range.count == name.utf8CodeUnitCount else { return false }
            let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            return expected.elementsEqual(bytes[range])
        }
    }

    private mutating func string() throws(Malformed) -> Field {
        try expect(UInt8(ascii: "\""))
        let start = index
        var escaped = false
        while true {
            guard index < bytes.count else { throw Malformed() }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw Malformed() }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
            } else {
                index += 1
            }
        }
        let range = start..<index
        index += 1
        let raw = UnsafeBufferPointer(rebasing: bytes[range])
        if !escaped {
            guard Self.isValidUTF8(raw) else { throw Malformed() }
            return Field(range: range, unescaped: nil)
        }
        return Field(range: range, unescaped: try Self.unescape(raw))
    }

    private static func isValidUTF8(_ raw: UnsafeBufferPointer<UInt8>) -> Bool {
        // ASCII, the common case, needs no decoding.
        if !raw.contains(where: { $0 >= 0x80 }) { return true }
        return String(validating: raw, as: UTF8.self) != nil
    }

    private static func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws(Malformed) -> String {
        var scalars = String.UnicodeScalarView()
        var plain: [UInt8] = []
        func flushPlain() throws(Malformed) {
            guard !plain.isEmpty else { return }
            guard let text = String(validating: plain, as: UTF8.self) else { throw Malformed() }
            scalars.append(contentsOf: text.unicodeScalars)
            plain.removeAll(keepingCapacity: true)
        }
        var i = 0
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                plain.append(byte)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { throw Malformed() }
            try flushPlain()
            let kind = raw[i + 1]
            i += 2
            switch kind {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let high = try hex4(raw, at: i)
                i += 4
                var value = high
                if (0xD800..<0xDC00).contains(high) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else { throw Malformed() }
                    let low = try hex4(raw, at: i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw Malformed() }
                    i += 6
                    value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw Malformed() }
                scalars.append(scalar)
            default:
                throw Malformed()
            }
        }
        try flushPlain()
        return String(scalars)
    }

    private static func hex4(_ raw: UnsafeBufferPointer<UInt8>, at start: Int) throws(Malformed) -> UInt32 {
        guard start + 4 <= raw.count else { throw Malformed() }
        var value: UInt32 = 0
        for byte in raw[start..<(start + 4)] {
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw Malformed()
            }
            value = value << 4 | digit
        }
        return value
    }

    // MARK: Other values (validated and skipped)

    /// Skips an object's members or an array's elements (`element` reads one) up to `close`; the
    /// reader stands on the opening bracket.
    private mutating func skipSequence(closedBy close: UInt8, element: (inout Self) throws(Malformed) -> Void) throws(Malformed) {
        index += 1
        skipWhitespace()
        if peek == close {
            index += 1
            return
        }
        while true {
            try element(&self)
            skipWhitespace()
            if peek == UInt8(ascii: ",") {
                index += 1
                skipWhitespace()
                continue
            }
            try expect(close)
            return
        }
    }

    private mutating func skipValue(depth: Int) throws(Malformed) {
        guard depth <= Self.maxDepth, let first = peek else { throw Malformed() }
        switch first {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            try skipSequence(closedBy: UInt8(ascii: "}")) { reader throws(Malformed) in
                _ = try reader.string()
                reader.skipWhitespace()
                try reader.expect(UInt8(ascii: ":"))
                reader.skipWhitespace()
                try reader.skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            try skipSequence(closedBy: UInt8(ascii: "]")) { reader throws(Malformed) in try reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(Malformed) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard index + expected.count <= bytes.count,
              expected.elementsEqual(bytes[index..<(index + expected.count)])
        else { throw Malformed() }
        index += expected.count
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws(Malformed) {
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            guard try digits() > 0 else { throw Malformed() }
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard try digits() > 0 else { throw Malformed() }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard try digits() > 0 else { throw Malformed() }
        }
    }

    private mutating func digits() throws(Malformed) -> Int {
        let start = index
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    // MARK: Scanning

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func expect(_ byte: UInt8) throws(Malformed) {
        guard peek == byte else { throw Malformed() }
        index += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek,
              byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t") {
            index += 1
        }
    }
}
