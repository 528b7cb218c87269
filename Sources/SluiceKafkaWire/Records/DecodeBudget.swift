/// How much one response may make the decoders produce. A broker, or anything between it and us,
/// chooses every length in a response; these caps keep a hostile or corrupt one from making a job
/// allocate without bound: one per decompressed batch, one for a response's record sets together.
package struct DecodeBudget: Sendable {
    /// Bytes one batch's records may take once decompressed.
    package var maxBatchBytes: Int
    /// Bytes all batches of one response may take (decompressed, or as sent when not compressed).
    package var maxResponseBytes: Int
    package private(set) var used = 0

    package static let defaultMaxBatchBytes = 64 * 1024 * 1024
    package static let defaultMaxResponseBytes = 256 * 1024 * 1024

    package init(maxBatchBytes: Int = DecodeBudget.defaultMaxBatchBytes, maxResponseBytes: Int = DecodeBudget.defaultMaxResponseBytes) {
        self.maxBatchBytes = maxBatchBytes
        self.maxResponseBytes = maxResponseBytes
    }

    /// Bytes a batch may still inflate to: the smaller of the batch cap and what the response has left.
    var remainingForBatch: Int { min(maxBatchBytes, maxResponseBytes - used) }

    mutating func charge(_ bytes: Int, baseOffset: Int64) throws(KafkaWireError) {
        let (total, overflow) = used.addingReportingOverflow(bytes)
        guard !overflow, total <= maxResponseBytes else {
            throw .malformed("record batches of one response beyond \(maxResponseBytes) bytes (at the batch at offset \(baseOffset)); "
                + "lower the fetch's maximum bytes, or raise DecodeBudget.maxResponseBytes if the data is genuine")
        }
        used = total
    }
}

/// Checked arithmetic on values read from the network: overflow is malformed data, never a trap.
enum Checked {
    static func add(_ left: Int64, _ right: Int64, _ what: @autoclosure () -> String) throws(KafkaWireError) -> Int64 {
        let (sum, overflow) = left.addingReportingOverflow(right)
        guard !overflow else { throw .malformed("\(what()) overflows (\(left) + \(right))") }
        return sum
    }
}
