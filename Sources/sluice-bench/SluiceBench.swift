/// sluice-bench: the benchmark command. One invocation, one broker, one pre-generated input of at
/// least 1,000,000 click events, and these contenders, each in a child process of its own:
///   (a) raw librdkafka pass-through (consume → produce, no framework): the practical limit;
///   (b) a Sluice pass-through job (source → map → sink), at-least-once and exactly-once;
///   (c) the click-count job, exactly-once;
///   (d) the same click-count logic in Quix Streams (exactly-once), when it is installed.
/// It prints records/s, end-to-end latency p50/p99, CPU time, peak memory and checkpoint figures per
/// contender, a 1,000,000-key heap-state checkpoint, restart-to-first-committed-output, and the
/// ratio targets as PASS or MISS. `scripts/bench.sh` builds and runs it; see README "Benchmarks".
import ArgumentParser
import Foundation

@main
struct SluiceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-bench",
        abstract: "Benchmarks Sluice against raw librdkafka and Quix Streams on one embedded broker.",
        subcommands: [BenchRun.self, RawPassThrough.self, SluicePassThrough.self, StateCheckpoint.self],
        defaultSubcommand: BenchRun.self)
}
