import Foundation
import SluiceKafka
import Testing

@Suite("KafkaStatistics decoding (no broker)")
struct StatisticsDecodingTests {
    @Test func decodesCountersEosAndPartitions() throws {
        let json = """
            {"name":"rdkafka#producer-1","client_id":"c","type":"producer","ts":5,"time":1700000000,
             "replyq":0,"msg_cnt":3,"msg_size":300,"tx":10,"tx_bytes":1000,"rx":9,"rx_bytes":900,
             "txmsgs":7,"txmsg_bytes":700,"rxmsgs":0,"rxmsg_bytes":0,
             "brokers":{"127.0.0.1:9092/1":{"name":"127.0.0.1:9092/1","nodeid":1,"state":"UP","extra":{"x":1}}},
             "topics":{"t":{"topic":"t","age":1,"partitions":{
                "0":{"partition":0,"broker":1,"leader":1,"msgq_cnt":0,"fetch_state":"active","lo_offset":2,
                     "hi_offset":10,"ls_offset":8,"consumer_lag":3,"next_offset":7,"unknown_field":true},
                "-1":{"partition":-1,"broker":-1,"leader":-1}}}},
             "eos":{"idemp_state":"Assigned","idemp_stateage":1,"txn_state":"Ready","txn_stateage":2,
                    "txn_may_enq":false,"producer_id":42,"producer_epoch":3,"epoch_cnt":1}}
            """
        let statistics = try JSONDecoder().decode(KafkaStatistics.self, from: Data(json.utf8))
        #expect(statistics.type == "producer")
        #expect(statistics.msgCnt == 3)
        #expect(statistics.txmsgs == 7)
        #expect(statistics.brokers?.first?.value.state == "UP")
        let partition = try #require(statistics.partition(TopicPartition("t", 0)))
        #expect(partition.loOffset == 2)
        #expect(partition.hiOffset == 10)
        #expect(partition.lsOffset == 8)
        #expect(partition.consumerLag == 3)
        #expect(partition.fetchState == "active")
        #expect(statistics.partition(TopicPartition("t", 1)) == nil)
        #expect(statistics.eos?.txnState == "Ready")
        #expect(statistics.eos?.producerId == 42)
        #expect(statistics.eos?.producerEpoch == 3)
        #expect(statistics.eos?.txnMayEnq == false)
    }
}
