/// A keyed exchange between worker processes: what lets `keyBy` work when a job runs as several
/// processes, each reading only its share of the input. The runtime knows nothing of the medium;
/// SluiceApp's Kafka exchange writes the records to a repartition topic inside the checkpoint's
/// transactions and reads back the key groups this process holds.
public protocol KeyedExchange: Sendable {
    /// The records of `stream` as this process receives them after the exchange: only those whose
    /// key groups it holds (`RuntimeConfiguration.keyGroupScope`), from every process. nil: this
    /// stream cannot cross (its type has no binary coding); `keyBy` then stays local, and the job's
    /// declaration check refuses it.
    func exchange<K: StateKey, T: Sendable>(_ stream: DataStream<T>, key: @escaping @Sendable (T) -> K) -> DataStream<T>?
}

/// A record or an event-time status of the writer that emitted it, as it crosses an exchange:
/// watermarks and idleness must reach the other side in line with the records they follow.
public enum ExchangeElement<T: Sendable>: Sendable {
    case record(T, timestamp: Int64?)
    /// Writer `writer` of `writers` (the exchange's upstream subtasks) has this watermark.
    case watermark(Int64, writer: Int, writers: Int)
    /// Writer `writer` of `writers` is idle: it must not hold event time back.
    case idle(writer: Int, writers: Int)
}

extension DataStream {
    /// Turns the stream's watermarks and idleness into elements, in line with its records, so a
    /// sink can write them across a process boundary. A status is emitted when it changes (a
    /// watermark at most every `minimumInterval` milliseconds), at every checkpoint (so a reader
    /// that restarted learns every writer's status again) and at the end of input.
    public func carryingEventTime(name: String, minimumInterval: Int64 = 200) -> DataStream<ExchangeElement<T>> {
        then(name) { setup, output in EventTimeCarryingOperator<T>(setup: setup, output: output, minimumInterval: minimumInterval) }
    }
}

/// See `DataStream.carryingEventTime`.
final class EventTimeCarryingOperator<T: Sendable>: OneInputOperator<T, ExchangeElement<T>> {
    private let minimumInterval: Int64
    private var watermark: Int64?
    private var idle = false
    private var emittedWatermark: Int64?
    private var emittedIdle = false
    private var lastEmission: Int64 = .min

    init(setup: OperatorSetup, output: Output<ExchangeElement<T>>, minimumInterval: Int64) {
        self.minimumInterval = minimumInterval
        super.init(setup: setup, output: output)
    }

    override func processElement(_ value: T, timestamp: Int64?) throws {
        try output.collect(.record(value, timestamp: timestamp), timestamp: timestamp)
    }

    override func processWatermark(_ watermark: Int64) throws {
        self.watermark = watermark
        let now = setup.clock.nowMillis()
        if watermark == Watermark.max || emittedIdle || lastEmission == .min || now &- lastEmission >= minimumInterval { try emitStatus(now: now) }
    }

    override func processIdleStatus(_ idle: Bool) throws {
        let now = setup.clock.nowMillis()
        // A watermark held back by the interval still counts: it came before the idleness.
        if idle && !self.idle, let watermark, watermark != emittedWatermark { try emitStatus(now: now) }
        self.idle = idle
        try emitStatus(now: now)
    }

    override func prepareSnapshotPreBarrier(checkpointId: Int64) throws {
        try emitStatus(now: setup.clock.nowMillis(), always: true)
    }

    override func finish() throws {
        try emitStatus(now: setup.clock.nowMillis(), always: true)
    }

    private func emitStatus(now: Int64, always: Bool = false) throws {
        let writer = setup.subtaskIndex, writers = setup.parallelism
        if idle {
            guard always || !emittedIdle else { return }
            try output.collect(.idle(writer: writer, writers: writers), timestamp: nil)
            emittedIdle = true
        } else if let watermark {
            guard always || emittedIdle || emittedWatermark != watermark else { return }
            try output.collect(.watermark(watermark, writer: writer, writers: writers), timestamp: nil)
            emittedWatermark = watermark
            emittedIdle = false
        } else {
            return
        }
        lastEmission = now
    }
}
