import CRdKafka
public let librdkafkaVersion: String = String(cString: rd_kafka_version_str())
