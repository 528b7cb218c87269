import Foundation
import Logging
import Prometheus
import SluiceRuntime
import Synchronization
import Testing
@testable import SluiceOps
import NIOHTTP1
import NIOCore

/// The status server read as an attacker would: who may write, where savepoints may go, and what a
/// flood of connections or oversized and slow requests can do to it.
@Suite struct StatusServerSecurityTests {
    final class Calls: Sendable {
        let list = Mutex<[String]>([])
        var count: Int { list.withLock { $0.count } }
    }

    static func recordingActions(_ calls: Calls, root: String? = nil) -> JobActions {
        JobActions(
            triggerSavepoint: { directory in
                calls.list.withLock { $0.append("trigger \(directory ?? "default")") }
                return (directory ?? "/default") + "/savepoint-1"
            },
            stopWithSavepoint: { directory in
                calls.list.withLock { $0.append("stop \(directory ?? "default")") }
                return (directory ?? "/default") + "/savepoint-2"
            },
            savepointRoot: root)
    }

    static func start(host: String = "127.0.0.1", actions: JobActions?, options: StatusServerOptions = StatusServerOptions()) throws -> StatusServer {
        try StatusServer.start(host: host, port: 0, registry: PrometheusCollectorRegistry(), status: { Array("{\"job\":\"t\"}".utf8) },
                               actions: actions, options: options, logger: Logger(label: "test"))
    }

    /// One raw request with `headers`, answered by its status code.
    static func post(_ port: Int, _ path: String, headers: [String] = []) -> Int? {
        guard let connection = RawHTTPConnection(port: port) else { return nil }
        let lines = ["POST \(path) HTTP/1.1", "Host: 127.0.0.1"] + headers + ["Content-Length: 0", "Connection: close", "", ""]
        connection.send(lines.joined(separator: "\r\n"))
        return connection.statusCode()
    }

    @Test func beyondLoopbackTheServerRefusesToStartWithoutAToken() throws {
        #expect(throws: StatusAccessError.self) { _ = try Self.start(host: "0.0.0.0", actions: nil) }
        let server = try Self.start(host: "0.0.0.0", actions: nil, options: StatusServerOptions(token: "s3cret"))
        server.stop()
        #expect(StatusServerOptions.isLoopback("127.0.0.1") && StatusServerOptions.isLoopback("::1") && StatusServerOptions.isLoopback("localhost"))
        #expect(!StatusServerOptions.isLoopback("0.0.0.0") && !StatusServerOptions.isLoopback("::") && !StatusServerOptions.isLoopback("job"))
    }

    @Test func writeRoutesRequireTheTokenWhileReadsStayOpen() throws {
        let calls = Calls()
        let server = try Self.start(host: "0.0.0.0", actions: Self.recordingActions(calls), options: StatusServerOptions(token: "s3cret"))
        defer { server.stop() }
        #expect(Self.post(server.port, "/savepoints") == 401)
        #expect(Self.post(server.port, "/stop", headers: ["Authorization: Bearer wrong"]) == 403)
        #expect(Self.post(server.port, "/stop", headers: ["Authorization: Basic czNjcmV0"]) == 401)
        #expect(calls.count == 0)
        #expect(Self.post(server.port, "/savepoints", headers: ["Authorization: Bearer s3cret"]) == 200)
        #expect(calls.count == 1)

        // The CLI's client sends the token it is given; GET needs none.
        let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10, token: "s3cret")
        #expect(try client.savepoint(stoppingJob: true, directory: nil) == "/default/savepoint-2")
        #expect(try StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10).request(.GET, "/status").0 == 200)
        #expect(throws: StatusClientError.self) { _ = try StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10).savepoint(stoppingJob: true, directory: nil) }
        #expect(calls.count == 2)
    }

    @Test func requestsFromWebPagesMayNotWrite() throws {
        let calls = Calls()
        let server = try Self.start(actions: Self.recordingActions(calls), options: StatusServerOptions(token: "s3cret"))
        defer { server.stop() }
        #expect(Self.post(server.port, "/stop", headers: ["Origin: http://evil.example", "Authorization: Bearer s3cret"]) == 403)
        #expect(Self.post(server.port, "/savepoints", headers: ["Origin: null"]) == 403)
        let open = try Self.start(actions: Self.recordingActions(calls))
        defer { open.stop() }
        #expect(Self.post(open.port, "/savepoints", headers: ["Origin: http://localhost:3000"]) == 403)
        #expect(calls.count == 0)
        #expect(Self.post(open.port, "/savepoints") == 200)
    }

    @Test func savepointFoldersStayInsideTheSavepointDirectory() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("confine-\(UUID().uuidString)").path
        let root = base + "/savepoints"
        try FileManager.default.createDirectory(atPath: root + "/existing", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: base + "/elsewhere")
        try FileManager.default.createSymbolicLink(atPath: root + "/inside", withDestinationPath: root + "/existing")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let calls = Calls()
        let server = try Self.start(actions: Self.recordingActions(calls, root: root))
        defer { server.stop() }
        let resolvedRoot = SavepointFolderConfinement.resolvingExistingPart(root)
        for hostile in ["../elsewhere", "/etc", "%2Fetc", "existing/../../elsewhere", "escape", "escape/deeper", base + "/elsewhere", "/"] {
            #expect(Self.post(server.port, "/savepoints?dir=\(hostile)") == 403, "dir=\(hostile) was taken")
        }
        #expect(calls.count == 0)
        for (allowed, expected) in [("new", "/new"), ("existing", "/existing"), ("inside", "/existing"), (root + "/a/b", "/a/b")] {
            #expect(Self.post(server.port, "/savepoints?dir=\(allowed)") == 200, "dir=\(allowed) was refused")
            #expect(calls.list.withLock { $0.last } == "trigger \(resolvedRoot + expected)")
        }
        // Without a savepoint directory no folder may be named at all.
        let unconfined = try Self.start(actions: Self.recordingActions(calls))
        defer { unconfined.stop() }
        #expect(Self.post(unconfined.port, "/savepoints?dir=/tmp") == 403)
        #expect(Self.post(unconfined.port, "/savepoints") == 200)
    }

    @Test func oneSavepointOrStopAtATime() throws {
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let actions = JobActions(
            triggerSavepoint: { _ in entered.signal(); release.wait(); return "/sp/savepoint-1" },
            stopWithSavepoint: { _ in "/sp/savepoint-2" })
        let server = try Self.start(actions: actions)
        defer { server.stop() }
        let first = Mutex<Int?>(nil)
        let thread = Thread { let code = Self.post(server.port, "/savepoints"); first.withLock { $0 = code } }
        thread.start()
        #expect(entered.wait(timeout: .now() + 10) == .success)
        #expect(Self.post(server.port, "/stop") == 409)
        #expect(Self.post(server.port, "/savepoints") == 409)
        release.signal()
        for _ in 0..<1000 where first.withLock({ $0 }) == nil { usleep(10_000) }
        #expect(first.withLock { $0 } == 200)
        #expect(Self.post(server.port, "/stop") == 200)
    }

    @Test func oversizedRequestsAreRefused() throws {
        let server = try Self.start(actions: nil)
        defer { server.stop() }
        let header = RawHTTPConnection(port: server.port)
        header?.send("GET /status HTTP/1.1\r\nHost: x\r\nX-Filler: \(String(repeating: "a", count: 20_000))\r\n\r\n")
        #expect(header?.statusCode() == 413)
        let body = RawHTTPConnection(port: server.port)
        body?.send("POST /savepoints HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + String(repeating: "b", count: 1000))
        #expect(body?.statusCode() == 413)
        let chunked = RawHTTPConnection(port: server.port)
        chunked?.send("POST /savepoints HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<20 { chunked?.send("1000\r\n" + String(repeating: "c", count: 4096) + "\r\n") }
        #expect(chunked?.statusCode() == 413)
        #expect(try StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10).request(.GET, "/status").0 == 200)
    }

    @Test func slowClientsAreCutOffAndConnectionsAreBounded() throws {
        var options = StatusServerOptions()
        options.maxConnections = 4
        options.requestTimeout = .milliseconds(300)
        let server = try Self.start(actions: nil, options: options)
        defer { server.stop() }
        // Four slowloris clients take every connection; a fifth is closed without an answer.
        let slow = (0..<4).compactMap { _ in RawHTTPConnection(port: server.port, receiveTimeoutMillis: 5000) }
        for connection in slow { connection.send("GET /status HTTP/1.1\r\n") }
        usleep(50_000)
        let extra = RawHTTPConnection(port: server.port)
        extra?.send("GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(extra?.statusCode() == nil, "a connection past the bound was served")
        // Trickling a byte now and then does not keep them: each request must arrive whole in time.
        for _ in 0..<3 {
            for connection in slow { connection.send("X") }
            usleep(50_000)
        }
        for connection in slow { #expect(connection.readUntilClosed().closedByPeer, "a slow client held its connection") }
        #expect(try StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10).request(.GET, "/status").0 == 200)
    }

    @Test func statusAndMetricsStayAnswerableWhileManyClientsConnect() throws {
        let server = try Self.start(actions: nil)
        defer { server.stop() }
        // 40 idle connections held open, and 8 clients asking 25 times each.
        let idle = (0..<40).compactMap { _ in RawHTTPConnection(port: server.port) }
        #expect(idle.count == 40)
        let answered = Mutex<[Int]>([])
        let group = DispatchGroup()
        for worker in 0..<8 {
            group.enter()
            Thread {
                let client = StatusClient(baseURL: "http://127.0.0.1:\(server.port)", timeoutSeconds: 10)
                for request in 0..<25 {
                    let code = (try? client.request(.GET, (worker + request) % 2 == 0 ? "/status" : "/metrics").0) ?? -1
                    answered.withLock { $0.append(code) }
                }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        let codes = answered.withLock { $0 }
        #expect(codes.count == 200)
        #expect(codes.allSatisfy { $0 == 200 }, "answers: \(Set(codes))")
    }
}
