import Foundation
import Testing
@testable import SluiceRuntime

@Suite struct DataflowTests {
    @Test func mapFilterFlatMapChain() throws {
        let env = StreamExecutionEnvironment(testConfiguration())
        let out = CollectedValues<Int>()
        env.fromCollection(Array(1...1000))
            .map { $0 * 2 }
            .filter { $0 % 3 != 0 }
            .flatMap { [$0, -$0] }
            .sinkTo(CollectingSink(into: out))
        let result = try env.execute()
        #expect(result.status == .finished)
        let expected = (1...1000).map { $0 * 2 }.filter { $0 % 3 != 0 }.flatMap { [$0, -$0] }
        #expect(out.values == expected)
    }

    @Test func parallelRebalanceAndKeyedState() throws {
        let env = StreamExecutionEnvironment(testConfiguration(parallelism: 2))
        let out = CollectedValues<String>()
        let words = (0..<600).map { "k\($0 % 7)" }
        env.fromCollection(words, parallelism: 2)
            .map { $0 }.setParallelism(3)
            .keyBy { $0 }
            .process(RunningCount()).setParallelism(2)
            .sinkTo(CollectingSink(into: out), parallelism: 2)
        try env.execute()
        var expected: [String] = []
        for k in 0..<7 {
            let n = words.filter { $0 == "k\(k)" }.count
            expected += (1...n).map { "k\(k):\($0)" }
        }
        #expect(out.values.sorted() == expected.sorted())
    }
}
