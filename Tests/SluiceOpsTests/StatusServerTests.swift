import Logging
import Prometheus
import SluiceRuntime
import Synchronization
import Testing
@testable import SluiceOps
import NIOHTTP1

/// The status server's routes through the CLI's client, on loopback: status, metrics, and the
/// savepoint requests reaching the job's actions with the folder asked for.
@Suite struct StatusServerTests {
    final class Calls: Sendable {
        let list = Mutex<[String]>([])
    }

    func start(actions: JobActions?) throws -> StatusServer {
        var status = JobStatus()
        status.phase = .running
        status.lastCompletedCheckpoint = 7
        let report = JobStatusReport(job: "test-job", status: status, lag: [.init(partition: "input-0", lag: 12)], backpressuredMillis: 1500)
        return try StatusServer.start(port: 0, registry: PrometheusCollectorRegistry(), status: { report.json() },
                                      actions: actions, logger: Logger(label: "test"))
    }

    @Test func servesStatusAndForwardsSavepointRequests() throws {
        let calls = Calls()
        let actions = JobActions(
            triggerSavepoint: { directory in
                calls.list.withLock { $0.append("trigger \(directory ?? "default")") }
                return "\(directory ?? "/default")/savepoint-8-1"
            },
            stopWithSavepoint: { directory in
                calls.list.withLock { $0.append("stop \(directory ?? "default")") }
                return "/default/savepoint-9-1"
            },
            savepointRoot: "/tmp")
        let server = try start(actions: actions)
        defer { server.stop() }
        let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)/status", timeoutSeconds: 10)

        let report = try client.status()
        #expect(report.job == "test-job")
        #expect(report.status.phase == .running)
        #expect(report.status.lastCompletedCheckpoint == 7)
        #expect(report.lag == [.init(partition: "input-0", lag: 12)])
        #expect(report.backpressuredMillis == 1500)

        #expect(try client.savepoint(stoppingJob: false, directory: "/tmp/my savepoints") == "/tmp/my savepoints/savepoint-8-1")
        #expect(try client.savepoint(stoppingJob: true, directory: nil) == "/default/savepoint-9-1")
        #expect(calls.list.withLock { $0 } == ["trigger /tmp/my savepoints", "stop default"])

        // Wrong methods and unknown paths are refused without calling the job.
        #expect(try client.request(.GET, "/savepoints").0 == 405)
        #expect(try client.request(.POST, "/status").0 == 405)
        #expect(try client.request(.GET, "/nothing").0 == 404)
        #expect(calls.list.withLock { $0.count } == 2)
    }

    @Test func reportsAFailedSavepointWithTheJobsReason() throws {
        let actions = JobActions(
            triggerSavepoint: { _ in throw SavepointError.jobNotRunning },
            stopWithSavepoint: { _ in throw JobActionError.noSavepointDirectory })
        let server = try start(actions: actions)
        defer { server.stop() }
        let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10)
        do {
            _ = try client.savepoint(stoppingJob: false, directory: nil)
            Issue.record("the failed savepoint was reported as written")
        } catch let StatusClientError.refused(_, code, message) {
            #expect(code == 409)
            #expect(message.contains("not running"))
        }
        do {
            _ = try client.savepoint(stoppingJob: true, directory: nil)
            Issue.record("the failed stop was reported as done")
        } catch let StatusClientError.refused(_, code, message) {
            #expect(code == 409)
            #expect(message.contains("no savepoint directory"))
        }
    }

    @Test func aJobWithoutActionsRefusesSavepointRequests() throws {
        let server = try start(actions: nil)
        defer { server.stop() }
        let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10)
        #expect(try client.request(.POST, "/savepoints").0 == 501)
        #expect(try client.status().job == "test-job")
    }

    @Test func aJobThatIsNotThereIsReportedAsUnreachable() throws {
        let server = try start(actions: nil)
        let port = server.port
        server.stop()
        #expect(throws: StatusClientError.self) { _ = try StatusClient(baseURL: "http://127.0.0.1:\(port)", timeoutSeconds: 5).status() }
        #expect(throws: StatusClientError.self) { _ = try StatusClient(baseURL: "ftp://somewhere").status() }
    }
}
