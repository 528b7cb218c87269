import SluiceKafka
print(librdkafkaVersion)
