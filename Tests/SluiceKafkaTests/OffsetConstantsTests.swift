@testable import SluiceKafka
import Testing

/// SluiceKafkaCore spells librdkafka's logical offsets as numbers (it must not link librdkafka).
@Suite struct OffsetConstantsTests {
    @Test func coreOffsetsAreLibrdkafkas() {
        #expect([KafkaOffset.beginning, KafkaOffset.end, KafkaOffset.stored] == librdkafkaLogicalOffsets)
    }
}
