// Parses and validates events, enriches each with its customer's tier from a broadcast topic of
// reference data, and routes it to the topic of the customer's region; malformed events go to a
// dead-letter topic. One exactly-once sink writes them all: each record names its topic.
import Foundation
import SluiceApp

struct Event: Codable, Sendable {
    let id: String
    let customer: String
    let kind: String
    let amount: Int
}

struct Customer: Codable, Sendable {
    let customer: String
    let region: String
    let tier: String
}

/// An input line, parsed: an event, or why it is not one.
enum Parsed: Sendable {
    case event(Event)
    case malformed(line: String, reason: String)

    init(_ line: String) {
        guard let event = try? JSONDecoder().decode(Event.self, from: Data(line.utf8)) else {
            self = .malformed(line: line, reason: "not an event")
            return
        }
        if event.amount <= 0 { self = .malformed(line: line, reason: "amount must be positive") }
        else if !["purchase", "refund"].contains(event.kind) { self = .malformed(line: line, reason: "unknown kind") }
        else { self = .event(event) }
    }

    var customer: String {
        if case .event(let event) = self { return event.customer }
        return ""
    }
}

@main
struct StatelessRouter: SluiceJob {
    struct Options: ParsableArguments {
        @Option(help: "Topic of events (JSON lines).") var eventsTopic = "events"
        @Option(help: "Topic of customers (JSON): the reference data.") var customersTopic = "customers"
        @Option(help: "Events of region R go to the topic PREFIX + R.") var outputPrefix = "events-"
        @Option(help: "Topic of malformed events.") var deadLetterTopic = "dead-letters"
    }

    static let abstract = "Routes events to a topic per customer region, enriched from reference data; malformed ones to a dead-letter topic."
    static let customers = MapStateDescriptor<String, Customer>("customers")

    static func build(_ job: JobBuilder, options: Options) throws {
        let events = job.kafkaSource(topics: [options.eventsTopic], name: "events") { $0.valueString }
        let reference = job.kafkaSource(topics: [options.customersTopic], name: "customers") {
            try JSONDecoder().decode(Customer.self, from: Data($0.value ?? []))
        }
        let routed = events.map(name: "parse") { Parsed($0) }
            .keyBy { $0.customer }
            .connect(reference.broadcast(customers))
            .process(name: "route", Router(prefix: options.outputPrefix, deadLetters: options.deadLetterTopic))
        try routed.sinkToKafka(job, topic: options.deadLetterTopic, name: "routed") { $0 }
    }
}

/// Routes each event once its customer is known; an event that arrives before its customer's
/// reference record waits (keyed state) and is retried on a short processing-time timer.
final class Router: KeyedBroadcastProcessFunction {
    typealias Key = String
    let prefix: String
    let deadLetters: String
    private var waiting: ListState<Event>?

    init(prefix: String, deadLetters: String) {
        self.prefix = prefix
        self.deadLetters = deadLetters
    }

    func open(_ context: KeyedContext<String>) throws {
        waiting = try context.listState(ListStateDescriptor<Event>("waiting"))
    }

    func processElement(_ value: Parsed, context: KeyedContext<String>, out: Collector<KafkaSinkRecord>) throws {
        switch value {
        case .malformed(let line, let reason):
            let header = KafkaHeader(key: "error", value: Array(reason.utf8))
            try out.collect(KafkaSinkRecord(topic: deadLetters, value: Array(line.utf8), headers: [header]))
        case .event(let event):
            if try !route(event, context, out) { waitForCustomer(event, context) }
        }
    }

    func processBroadcastElement(_ value: Customer, context: BroadcastContext, out: Collector<KafkaSinkRecord>) throws {
        try context.broadcastState(StatelessRouter.customers).put(value.customer, value)
    }

    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<KafkaSinkRecord>) throws {
        let events = waiting?.get() ?? []
        waiting?.clear()
        for event in events where try !route(event, context, out) { waitForCustomer(event, context) }
    }

    private func route(_ event: Event, _ context: KeyedContext<String>, _ out: Collector<KafkaSinkRecord>) throws -> Bool {
        guard let customer = try context.broadcastState(StatelessRouter.customers).get(event.customer) else { return false }
        let line = "\(event.id),\(event.customer),\(customer.tier),\(event.kind),\(event.amount)"
        try out.collect(KafkaSinkRecord(topic: prefix + customer.region, key: Array(event.customer.utf8), value: Array(line.utf8)))
        return true
    }

    private func waitForCustomer(_ event: Event, _ context: KeyedContext<String>) {
        waiting?.add(event)
        context.timerService.registerProcessingTimeTimer(context.timerService.currentProcessingTime + 200)
    }
}
