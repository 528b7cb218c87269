/// SluiceClickCount: the click-count playground of Flink's operations playground, in Sluice —
/// its events and their format, a deterministic generator, and the counting job.

/// The playground's timestamp text, `dd-MM-yyyy hh:mm:ss:SSS` in UTC with a 12-hour clock and no
/// AM/PM marker (as Java's `SimpleDateFormat` writes it): epoch 0 is `01-01-1970 12:00:00:000`.
///
/// Written by hand because Foundation's DateFormatter is slow per record and this format is fixed.
/// Without an AM/PM marker the text is ambiguous past 12 hours of event time; parsing reads the hour
/// as AM, exactly as the Java playground does, so the round trip holds for the first 12 hours.
public enum PlaygroundTimestamp {
    /// Milliseconds since the Unix epoch to the playground's text.
    public static func format(millisecondsSinceEpoch millis: Int64) -> String {
        let (days, msOfDay) = floorDivision(millis, 86_400_000)
        let (year, month, day) = civilDate(fromDaysSinceEpoch: days)
        let hour24 = Int(msOfDay / 3_600_000)
        let minute = Int(msOfDay / 60_000 % 60)
        let second = Int(msOfDay / 1000 % 60)
        let milli = Int(msOfDay % 1000)
        let hour12 = hour24 % 12 == 0 ? 12 : hour24 % 12
        var text = ""
        text.reserveCapacity(23)
        append(&text, day, width: 2); text.append("-")
        append(&text, month, width: 2); text.append("-")
        append(&text, year, width: 4); text.append(" ")
        append(&text, hour12, width: 2); text.append(":")
        append(&text, minute, width: 2); text.append(":")
        append(&text, second, width: 2); text.append(":")
        append(&text, milli, width: 3)
        return text
    }

    /// The playground's text to milliseconds since the Unix epoch, or nil when it does not match the pattern.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        var copy = String(text)
        return copy.withUTF8 { parse(utf8: $0) }
    }

    /// The same from UTF-8 bytes, without allocating (the click-count job's per-record path).
    static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        // dd-MM-yyyy hh:mm:ss:SSS
        guard bytes.count == 23,
              bytes[2] == UInt8(ascii: "-"), bytes[5] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: " "),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: ":"),
              let day = number(bytes, 0, 2), let month = number(bytes, 3, 2), let year = number(bytes, 6, 4),
              let hour = number(bytes, 11, 2), let minute = number(bytes, 14, 2),
              let second = number(bytes, 17, 2), let milli = number(bytes, 20, 3),
              (1...12).contains(month), (1...31).contains(day), (1...12).contains(hour),
              minute < 60, second < 60
        else { return nil }
        let hour24 = hour == 12 ? 0 : hour
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return Int64(days) * 86_400_000 + Int64(hour24) * 3_600_000 + Int64(minute) * 60_000
            + Int64(second) * 1000 + Int64(milli)
    }

    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for index in start..<(start + count) {
            let digit = Int(bytes[index]) - 48
            guard (0...9).contains(digit) else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    private static func append(_ text: inout String, _ value: Int, width: Int) {
        let digits = String(value)
        if digits.count < width { text.append(String(repeating: "0", count: width - digits.count)) }
        text.append(digits)
    }

    private static func floorDivision(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (quotient, a - quotient * b)
    }

    // Howard Hinnant's days-from-civil and civil-from-days algorithms (proleptic Gregorian calendar).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilDate(fromDaysSinceEpoch days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }
}
