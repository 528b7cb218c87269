import Foundation
import Testing
@testable import SluiceRuntime

struct Order: Sendable {
    let id: String
    let item: String
    let ts: Int64
}

struct Payment: Sendable {
    let id: String
    let amount: Int
    let ts: Int64
}

/// Joins an order with its payment, whichever arrives first (keyed state on both sides).
final class OrderPaymentJoin: KeyedCoProcessFunction {
    typealias Key = String
    typealias Input1 = Order
    typealias Input2 = Payment
    typealias Output = String
    private var item: ValueState<String>?
    private var amount: ValueState<Int>?

    func open(_ context: KeyedContext<String>) throws {
        item = try context.state(ValueStateDescriptor<String>("item"))
        amount = try context.state(ValueStateDescriptor<Int>("amount"))
    }

    func processElement1(_ value: Order, context: KeyedContext<String>, out: Collector<String>) throws {
        if let paid = amount?.value() {
            try out.collect("\(value.id):\(value.item):\(paid)")
            amount?.clear()
        } else {
            item?.update(value.item)
        }
    }

    func processElement2(_ value: Payment, context: KeyedContext<String>, out: Collector<String>) throws {
        if let ordered = item?.value() {
            try out.collect("\(value.id):\(ordered):\(value.amount)")
            item?.clear()
        } else {
            amount?.update(value.amount)
        }
    }
}

/// On an event-time timer set by side 1, reports how many side-2 elements at or before the
/// timer it has seen: with the operator watermark = min of both inputs, all of them.
final class SeenBeforeTimer: KeyedCoProcessFunction {
    typealias Key = String
    typealias Input1 = Order
    typealias Input2 = Payment
    typealias Output = String
    private var seen: ListState<Int64>?

    func open(_ context: KeyedContext<String>) throws { seen = try context.listState(ListStateDescriptor<Int64>("seen")) }

    func processElement1(_ value: Order, context: KeyedContext<String>, out: Collector<String>) throws {
        context.timerService.registerEventTimeTimer(value.ts)
    }

    func processElement2(_ value: Payment, context: KeyedContext<String>, out: Collector<String>) throws {
        seen?.add(value.ts)
    }

    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        let before = (seen?.get() ?? []).filter { $0 <= timestamp }.count
        try out.collect("\(context.currentKey)@\(timestamp):\(before)")
    }
}

/// Counts elements per side without keys (operator-level counters).
final class SideCounter: CoProcessFunction {
    typealias Input1 = Int
    typealias Input2 = String
    typealias Output = String
    func processElement1(_ value: Int, context: CoProcessContext, out: Collector<String>) throws { try out.collect("int:\(value)") }
    func processElement2(_ value: String, context: CoProcessContext, out: Collector<String>) throws { try out.collect("str:\(value)") }
}

/// Numbers to the main output, words to a side output.
final class Splitter: CoProcessFunction {
    typealias Input1 = Int
    typealias Input2 = String
    typealias Output = Int
    static let words = OutputTag<String>("words")
    func processElement1(_ value: Int, context: CoProcessContext, out: Collector<Int>) throws { try out.collect(value) }
    func processElement2(_ value: String, context: CoProcessContext, out: Collector<Int>) throws { try context.output(Self.words, value) }
}

@Suite struct ConnectedStreamsTests {
    func orderStrategy() -> WatermarkStrategy<Order> { WatermarkStrategy<Order>.monotonousTimestamps.withTimestampAssigner { o, _ in o.ts } }
    func paymentStrategy() -> WatermarkStrategy<Payment> { WatermarkStrategy<Payment>.monotonousTimestamps.withTimestampAssigner { p, _ in p.ts } }

    @Test func coMapAndCoProcessSeeBothSides() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let mapped = CollectedValues<String>()
        let processed = CollectedValues<String>()
        let ints = env.fromCollection([1, 2, 3], name: "ints")
        let strings = env.fromCollection(["a", "b"], name: "strings")
        ints.connect(strings).map({ "n\($0)" }, { "s\($0)" }).sinkTo(CollectingSink(into: mapped), name: "mapped")
        ints.connect(strings).process(SideCounter()).sinkTo(CollectingSink(into: processed), name: "processed")
        try env.execute()
        #expect(mapped.values.sorted() == ["n1", "n2", "n3", "sa", "sb"])
        #expect(processed.values.sorted() == ["int:1", "int:2", "int:3", "str:a", "str:b"])
    }

    @Test func coProcessSideOutputCanItselfBeConnected() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let main = CollectedValues<Int>()
        let side = CollectedValues<String>()
        let split = env.fromCollection([1, 2, 3], name: "ints")
            .connect(env.fromCollection(["a", "b"], name: "strings"))
            .process(name: "split", Splitter())
        split.sinkTo(CollectingSink(into: main), name: "main")
        split.sideOutput(Splitter.words)
            .connect(env.fromCollection([100], name: "more"))
            .map({ "w:\($0)" }, { "n:\($0)" })
            .sinkTo(CollectingSink(into: side), name: "side")
        try env.execute()
        #expect(main.values.sorted() == [1, 2, 3])
        #expect(side.values.sorted() == ["n:100", "w:a", "w:b"])
    }

    @Test func keyedCoProcessJoinsBothSidesOnTheKey() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 3))
        let out = CollectedValues<String>()
        let orders = (0..<30).map { Order(id: "o\($0)", item: "item\($0 % 4)", ts: Int64($0)) }
        // Payments for every order but o7 and o20, in another order; one payment without an order.
        let payments = (0..<30).reversed().filter { $0 != 7 && $0 != 20 }.map { Payment(id: "o\($0)", amount: $0 * 10, ts: Int64($0)) }
            + [Payment(id: "stray", amount: 1, ts: 99)]
        env.fromCollection(orders, name: "orders").keyBy { $0.id }
            .connect(env.fromCollection(payments, name: "payments").keyBy { $0.id })
            .process(OrderPaymentJoin())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        let expected = (0..<30).filter { $0 != 7 && $0 != 20 }.map { "o\($0):item\($0 % 4):\($0 * 10)" }
        #expect(out.values.sorted() == expected.sorted())
    }

    @Test func watermarkIsTheMinimumOfBothInputs() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let out = CollectedValues<String>()
        // Side 1 ends at once (its watermark jumps to the end); side 2 runs far behind.
        let orders = [Order(id: "k1", item: "", ts: 100), Order(id: "k2", item: "", ts: 300)]
        let payments = [
            Payment(id: "k1", amount: 0, ts: 50), Payment(id: "k2", amount: 0, ts: 60), Payment(id: "k1", amount: 0, ts: 80),
            Payment(id: "k2", amount: 0, ts: 200), Payment(id: "k2", amount: 0, ts: 300), Payment(id: "k1", amount: 0, ts: 400),
            Payment(id: "k2", amount: 0, ts: 500),
        ]
        env.fromCollection(orders, name: "orders", watermarkStrategy: orderStrategy())
            .connect(env.fromCollection(payments, name: "payments", watermarkStrategy: paymentStrategy()))
            .keyBy({ $0.id }, { $0.id })
            .process(SeenBeforeTimer())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        // Every side-2 element at or before a timer was processed before the timer fired.
        #expect(out.values.sorted() == ["k1@100:2", "k2@300:3"])
    }
}

// MARK: - Broadcast state

struct Purchase: Sendable {
    let user: String
    let amount: Int
    let ts: Int64
}

struct Rule: Sendable {
    let name: String
    let limit: Int
    let ts: Int64
}

let limitsDescriptor = MapStateDescriptor<String, Int>("limits")

/// Flags purchases above the broadcast limit of their rule. A purchase is judged when the
/// watermark (min of both inputs) passes it, so every rule sent before it is known.
final class LimitChecker: KeyedBroadcastProcessFunction {
    typealias Key = String
    typealias Input = Purchase
    typealias BroadcastInput = Rule
    typealias Output = String
    private var pending: MapState<Int64, Int>?

    func open(_ context: KeyedContext<String>) throws {
        pending = try context.mapState(MapStateDescriptor<Int64, Int>("pending"))
    }

    func processElement(_ value: Purchase, context: KeyedContext<String>, out: Collector<String>) throws {
        pending?.put(value.ts, value.amount)
        context.timerService.registerEventTimeTimer(value.ts)
    }

    func processBroadcastElement(_ value: Rule, context: BroadcastContext, out: Collector<String>) throws {
        try context.broadcastState(limitsDescriptor).put(value.name, value.limit)
    }

    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        let limits = try context.broadcastState(limitsDescriptor)
        guard let amount = pending?.get(timestamp) else { return }
        pending?.remove(timestamp)
        let limit = limits.get(context.currentKey.hasPrefix("vip") ? "vip" : "default") ?? Int.max
        if amount > limit { try out.collect("\(context.currentKey)@\(timestamp):\(amount)>\(limit)") }
    }
}

/// Non-keyed: tags each number with the broadcast label in force (read-only side).
final class Labeller: BroadcastProcessFunction {
    typealias Input = Int
    typealias BroadcastInput = String
    typealias Output = String
    static let labels = MapStateDescriptor<String, String>("labels")

    func processElement(_ value: Int, context: ReadOnlyBroadcastContext, out: Collector<String>) throws {
        try out.collect("\(value):\(try context.broadcastState(Self.labels).count)")
    }

    func processBroadcastElement(_ value: String, context: BroadcastContext, out: Collector<String>) throws {
        try context.broadcastState(Self.labels).put(value, value)
        try out.collect("label:\(value)@\(context.subtaskIndex)")
    }
}

@Suite struct BroadcastStateTests {
    @Test func keyedBroadcastAppliesRulesOnEverySubtask() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 3))
        let out = CollectedValues<String>()
        let rules = [Rule(name: "default", limit: 100, ts: 0), Rule(name: "vip", limit: 1000, ts: 0)]
        let users = ["ann", "bob", "cid", "dan", "vip-eve", "vip-fay"]
        let purchases = (0..<36).map { i in Purchase(user: users[i % users.count], amount: (i * 37) % 1500, ts: Int64(10 + i)) }
        env.fromCollection(purchases, name: "purchases",
                           watermarkStrategy: WatermarkStrategy<Purchase>.monotonousTimestamps.withTimestampAssigner { p, _ in p.ts })
            .keyBy { $0.user }
            .connect(env.fromCollection(rules, name: "rules",
                                        watermarkStrategy: WatermarkStrategy<Rule>.monotonousTimestamps.withTimestampAssigner { r, _ in r.ts })
                .broadcast(limitsDescriptor))
            .process(LimitChecker())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        let expected = purchases.filter { $0.amount > ($0.user.hasPrefix("vip") ? 1000 : 100) }
            .map { "\($0.user)@\($0.ts):\($0.amount)>\($0.user.hasPrefix("vip") ? 1000 : 100)" }
        #expect(!expected.isEmpty)
        #expect(out.values.sorted() == expected.sorted())
    }

    @Test func everySubtaskReceivesEveryBroadcastElement() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let out = CollectedValues<String>()
        env.fromCollection([1, 2, 3, 4], name: "numbers")
            .connect(env.fromCollection(["x", "y"], name: "labels").broadcast(Labeller.labels))
            .process(Labeller())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        let labels = out.values.filter { $0.hasPrefix("label:") }.sorted()
        #expect(labels == ["label:x@0", "label:x@1", "label:y@0", "label:y@1"])
        #expect(out.values.filter { !$0.hasPrefix("label:") }.count == 4)
    }

    /// Drives broadcast operators directly: 2 subtasks → snapshot → 3 subtasks and 1 subtask.
    @Test func broadcastStateIsRestoredOnEverySubtaskOnRescale() throws {
        let clock = ManualClock()
        func makeOperator(_ index: Int, _ parallelism: Int, restore: OperatorRestore?) throws -> KeyedBroadcastProcessOperator<LimitChecker> {
            let op = try KeyedBroadcastProcessOperator(
                setup: operatorSetup(clock: clock, restore: restore, subtask: index, parallelism: parallelism),
                output: ProbeOutput<String>(), keySelector: { $0.user }, declared: ["limits"], function: LimitChecker())
            try op.open()
            return op
        }
        func limits(_ op: KeyedBroadcastProcessOperator<LimitChecker>) throws -> [String: Int] {
            let context = BroadcastContext(states: BroadcastStateStore(store: op.operatorStateStore, declared: ["limits"]), setup: op.setup)
            return Dictionary(uniqueKeysWithValues: try context.broadcastState(limitsDescriptor).entries().map { ($0.key, $0.value) })
        }
        let old = try (0..<2).map { try makeOperator($0, 2, restore: nil) }
        for op in old {
            try op.processElement(.second(Rule(name: "default", limit: 100, ts: 0)), timestamp: 0)
            try op.processElement(.second(Rule(name: "vip", limit: 1000, ts: 0)), timestamp: 0)
            try op.processElement(.second(Rule(name: "default", limit: 150, ts: 1)), timestamp: 1)
        }
        let snapshots = try old.map { try $0.snapshotState(checkpointId: 1) }
        let expected = ["default": 150, "vip": 1000]
        for parallelism in [3, 1, 2] {
            for index in 0..<parallelism {
                let op = try makeOperator(index, parallelism, restore: try restoreFrom(snapshots, parallelism: parallelism, index: index))
                #expect(try limits(op) == expected, "subtask \(index) of \(parallelism)")
            }
        }
        // Undeclared broadcast state, and broadcast state outside a broadcast operator, are refused.
        let store = BroadcastStateStore(store: OperatorStateStore(), declared: ["limits"])
        #expect(throws: BroadcastStateError.self) { try store.state(MapStateDescriptor<String, Int>("other")) }
        let probed = try ProbedOperator(clock: clock)
        #expect(throws: BroadcastStateError.self) { try probed.context.broadcastState(limitsDescriptor) }
    }
}

// MARK: - Fraud detection (Flink's classic walkthrough)

struct Transaction: Sendable {
    let account: String
    let amount: Double
    let ts: Int64
}

/// A small amount (< 1.00) followed, as the account's very next transaction, by a large one
/// (> 500.00) within one minute raises an alert. Keyed value state holds the flag; an event-time
/// timer clears it after one minute.
final class FraudDetector: KeyedProcessFunction {
    typealias Key = String
    typealias Input = Transaction
    typealias Output = String
    static let oneMinute: Int64 = 60_000
    private var smallAt: ValueState<Int64>?
    private var timer: ValueState<Int64>?

    func open(_ context: KeyedContext<String>) throws {
        smallAt = try context.state(ValueStateDescriptor<Int64>("small-at"))
        timer = try context.state(ValueStateDescriptor<Int64>("timer"))
    }

    func processElement(_ tx: Transaction, context: KeyedContext<String>, out: Collector<String>) throws {
        if let flagged = smallAt?.value() {
            // The timer clears the flag once the watermark passes; the check on the timestamps
            // keeps the verdict independent of when watermarks arrive.
            if tx.amount > 500.00, tx.ts - flagged < Self.oneMinute {
                try out.collect("alert:\(tx.account)@\(tx.ts)")
            }
            cleanUp(context)
        }
        if tx.amount < 1.00 {
            smallAt?.update(tx.ts)
            let fireAt = tx.ts + Self.oneMinute
            context.timerService.registerEventTimeTimer(fireAt)
            timer?.update(fireAt)
        }
    }

    func onTimer(_ timestamp: Int64, context: KeyedContext<String>, out: Collector<String>) throws {
        timer?.clear()
        smallAt?.clear()
    }

    private func cleanUp(_ context: KeyedContext<String>) {
        if let fireAt = timer?.value() { context.timerService.deleteEventTimeTimer(fireAt) }
        timer?.clear()
        smallAt?.clear()
    }
}

@Suite struct FraudDetectionTests {
    @Test func smallThenLargeWithinAMinuteRaisesAnAlert() throws {
        let transactions = [
            Transaction(account: "A", amount: 0.50, ts: 1_000),
            Transaction(account: "B", amount: 0.10, ts: 2_000),
            Transaction(account: "C", amount: 0.99, ts: 3_000),
            Transaction(account: "C", amount: 10.00, ts: 4_000),  // breaks C's pattern
            Transaction(account: "C", amount: 900.00, ts: 5_000),  // no alert: not right after the small one
            Transaction(account: "D", amount: 800.00, ts: 6_000),  // large without a small one before
            Transaction(account: "A", amount: 600.00, ts: 20_000),  // ALERT A (19 s after 0.50)
            Transaction(account: "D", amount: 0.01, ts: 30_000),
            Transaction(account: "A", amount: 0.20, ts: 40_000),
            Transaction(account: "A", amount: 500.00, ts: 40_500),  // not above 500.00
            Transaction(account: "B", amount: 700.00, ts: 70_000),  // 68 s after B's 0.10: no alert
            Transaction(account: "D", amount: 501.00, ts: 89_999),  // ALERT D (59.999 s after 0.01)
            Transaction(account: "E", amount: 0.30, ts: 90_000),
            Transaction(account: "F", amount: 0.40, ts: 91_000),
            Transaction(account: "E", amount: 1_000.00, ts: 95_000),  // ALERT E (interleaved with F)
            Transaction(account: "F", amount: 2_000.00, ts: 200_000),  // F's flag was cleared at 151 s
        ]
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let out = CollectedValues<String>()
        env.fromCollection(transactions, name: "transactions",
                           watermarkStrategy: WatermarkStrategy<Transaction>.monotonousTimestamps.withTimestampAssigner { t, _ in t.ts })
            .keyBy { $0.account }
            .process(name: "fraud-detector", FraudDetector())
            .sinkTo(CollectingSink(into: out))
        try env.execute()
        #expect(out.values.sorted() == ["alert:A@20000", "alert:D@89999", "alert:E@95000"])
    }
}

// MARK: - Broadcast and reducing state through a savepoint with rescaling (whole job)

/// Sums, per word, the broadcast "weight" (reducing state); announces each rule it receives.
final class WeightedCount: KeyedBroadcastProcessFunction {
    typealias Key = String
    typealias Input = String
    typealias BroadcastInput = Int
    typealias Output = String
    static let weights = MapStateDescriptor<String, Int>("weights")
    private var sum: ReducingState<Int>?

    func open(_ context: KeyedContext<String>) throws {
        sum = try context.reducingState(ReducingStateDescriptor<Int>("sum") { $0 + $1 })
    }

    func processElement(_ value: String, context: KeyedContext<String>, out: Collector<String>) throws {
        try sum?.add(try context.broadcastState(Self.weights).get("weight") ?? 1)
        try out.collect("\(value):\(sum?.get() ?? 0)")
    }

    func processBroadcastElement(_ value: Int, context: BroadcastContext, out: Collector<String>) throws {
        try context.broadcastState(Self.weights).put("weight", value)
        try out.collect("rule@\(context.subtaskIndex)")
    }
}

@Suite struct BroadcastSavepointTests {
    @Test func broadcastAndReducingStateSurviveASavepointWithRescale() throws {
        let words = (0..<300).map { "k\($0 % 7)" }
        let out = CollectedValues<String>()
        let savepoints = temporaryDirectory("bsp")
        func environment(_ gate: SourceGate, parallelism: Int) -> StreamExecutionEnvironment {
            let env = StreamExecutionEnvironment(testConfiguration(checkpointing: CheckpointConfig(directory: temporaryDirectory("bchk"))))
            env.fromSource(GatedSource(elements: words, gate: gate), name: "words")
                .keyBy { $0 }
                .connect(env.fromCollection([10], name: "weights").broadcast(WeightedCount.weights))
                .process(name: "weighted", WeightedCount()).setParallelism(parallelism)
                .sinkTo(CollectingSink(into: out), name: "sink", parallelism: 1)
            return env
        }
        // Parallelism 2: the rule reaches both subtasks before any word is let through.
        let gate = SourceGate()
        let env = environment(gate, parallelism: 2)
        let job = try BackgroundJob(env)
        #expect(eventually { out.values.filter { $0.hasPrefix("rule@") }.count == 2 })
        gate.open(to: 140)
        #expect(gate.waitUntilReached(140))
        let path = try env.control.stopWithSavepoint(directory: savepoints)
        #expect(try job.result().status == .stoppedWithSavepoint(path))

        // Parallelism 3: the rule is not sent again (its source is at its end); every subtask
        // restores the broadcast copy, and the sums continue from the savepoint.
        let resumed = SourceGate()
        resumed.open(to: words.count)
        #expect(try environment(resumed, parallelism: 3).execute(restoreFrom: path).status == .finished)
        var counts: [String: Int] = [:]
        let expected = words.map { word -> String in
            counts[word, default: 0] += 1
            return "\(word):\((counts[word] ?? 0) * 10)"
        }
        #expect(out.values.filter { !$0.hasPrefix("rule@") }.sorted() == expected.sorted())
        #expect(out.values.filter { $0.hasPrefix("rule@") }.count == 2)
    }
}
