import Testing
@testable import SluiceRuntime

/// `SLUICE_CRASH_AT=POINT:N` names the Nth checkpoint of the process, whatever ids a restored job continues from.
@Suite struct FaultInjectorCountingTests {
    @Test func countsCheckpointsOfThisProcessNotIds() throws {
        let injector = FaultInjector(point: .betweenSubtaskCommits, checkpointId: 2, countsPerProcess: true)
        // A job restored from checkpoint 40 takes 41, 42, ...: the second of this process is 42.
        try injector.hit(.afterSnapshot, checkpointId: 41)
        try injector.hit(.betweenSubtaskCommits, checkpointId: 41)
        try injector.hit(.afterSnapshot, checkpointId: 42)
        try injector.hit(.afterCommit, checkpointId: 42)  // another point of the armed checkpoint
        #expect(throws: InjectedFault.self) { try injector.hit(.betweenSubtaskCommits, checkpointId: 42) }
        try injector.hit(.betweenSubtaskCommits, checkpointId: 42)  // fires once
    }

    @Test func theEnvironmentCountsPerProcessAndRefusesZero() throws {
        let injector = try FaultInjector.fromEnvironment(["SLUICE_CRASH_AT": "afterCommit:1"])
        #expect(injector.countsPerProcess)
        #expect(injector.checkpointId == 1)
        #expect(throws: RuntimeConfigurationError.self) { try FaultInjector.fromEnvironment(["SLUICE_CRASH_AT": "afterCommit:0"]) }
        // Tests that construct an injector keep absolute ids (in-process restarts continue the numbering).
        #expect(!FaultInjector(point: .afterCommit, checkpointId: 3).countsPerProcess)
    }
}
