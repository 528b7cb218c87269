// Joins orders with their payments by order id, in event time: a paid order goes to the paid
// topic once; an order without a payment within --payment-timeout of its time goes, through a
// side output, to the unpaid topic. Exactly once, whatever kills the job.
import Foundation
import SluiceApp

struct Order: Codable, Sendable {
    let order: String
    let amount: Int
    let time: Int64
}

struct Payment: Codable, Sendable {
    let order: String
    let amount: Int
    let time: Int64
}

@main
struct OrderPaymentJoin: SluiceJob {
    struct Options: ParsableArguments {
        @Option(help: "Topic of orders (JSON).") var ordersTopic = "orders"
        @Option(help: "Topic of payments (JSON).") var paymentsTopic = "payments"
        @Option(help: "Topic of paid orders.") var paidTopic = "paid"
        @Option(help: "Topic of orders without a payment in time.") var unpaidTopic = "unpaid"
        @Option(help: "Event time an order waits for its payment.") var paymentTimeout = DurationArgument(.seconds(5))
    }

    static let abstract = "Joins orders and payments by order id; orders unpaid after a timeout go to their own topic."
    static let unpaid = OutputTag<String>("unpaid")

    static func build(_ job: JobBuilder, options: Options) throws {
        let timeout = (options.paymentTimeout.duration ?? .seconds(5)).inMilliseconds
        let orders = job.kafkaSource(topics: [options.ordersTopic], name: "orders", watermarks: watermarks { $0.time }) {
            try JSONDecoder().decode(Order.self, from: Data($0.value ?? []))
        }
        let payments = job.kafkaSource(topics: [options.paymentsTopic], name: "payments", watermarks: watermarks { $0.time }) {
            try JSONDecoder().decode(Payment.self, from: Data($0.value ?? []))
        }
        let paid = orders.connect(payments).keyBy({ $0.order }, { $0.order })
            .process(name: "join", PaymentMatcher(timeout: timeout))
        try paid.sinkToKafka(job, topic: options.paidTopic, name: "paid") { KafkaSinkRecord(value: Array($0.utf8)) }
        try paid.sideOutput(unpaid).sinkToKafka(job, topic: options.unpaidTopic, name: "unpaid", transactionalIdSuffix: "unpaid") {
            KafkaSinkRecord(value: Array($0.utf8))
        }
    }

    static func watermarks<T>(_ time: @escaping @Sendable (T) -> Int64) -> WatermarkStrategy<T> {
        WatermarkStrategy<T>.boundedOutOfOrderness(1000).withTimestampAssigner { value, _ in time(value) }
    }
}

/// Per order id: the order and the payment seen so far. They match when their times are at most
/// the timeout apart (an event-time rule, so replays after a crash decide the same). A match is
/// emitted at once; the timer at order time + timeout reports an order still unpaid.
final class PaymentMatcher: KeyedCoProcessFunction {
    typealias Key = String
    let timeout: Int64
    private var order: ValueState<Order>?
    private var payment: ValueState<Payment>?

    init(timeout: Int64) { self.timeout = timeout }

    func open(_ context: KeyedContext<String>) throws {
        order = try context.state(ValueStateDescriptor<Order>("order"))
        payment = try context.state(ValueStateDescriptor<Payment>("payment"))
    }

    func processElement1(_ value: Order, context: KeyedContext<String>, out: Collector<String>) throws {
        context.timerService.registerEventTimeTimer(value.time + timeout)
        if let paid = payment?.value(), matches(value, paid) { return try emit(value, paid, out) }
        order?.update(value)
    }

    func processElement2(_ value: Payment, context: KeyedContext<String>, out: Collector<String>) throws {
        if let ordered = order?.value(), matches(ordered, value) { return try emit(ordered, value, out) }
        payment?.update(value)
        context.timerService.registerEventTimeTimer(value.time + timeout)  // forget a payment of no order
    }

    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        if let waiting = order?.value(), timestamp >= waiting.time + timeout {
            try context.output(OrderPaymentJoin.unpaid, "\(waiting.order) unpaid \(waiting.amount)")
            order?.clear()
        }
        if let stray = payment?.value(), timestamp >= stray.time + timeout { payment?.clear() }
    }

    private func matches(_ order: Order, _ payment: Payment) -> Bool { abs(payment.time - order.time) <= timeout }

    private func emit(_ order: Order, _ payment: Payment, _ out: Collector<String>) throws {
        try out.collect("\(order.order) paid \(payment.amount) of \(order.amount)")
        self.order?.clear()
        self.payment?.clear()
    }
}
