// A job author imports SluiceApp alone: the dataflow API, the Kafka connector and records, and
// ArgumentParser for the job's own options come with it.
@_exported import ArgumentParser
@_exported import SluiceKafka
@_exported import SluiceKafkaConnector
@_exported import SluiceRuntime
