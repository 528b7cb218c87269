/// SluiceOps: what operators look at and do while a job runs — its status as JSON and its metrics
/// in Prometheus' text format (`GET /status`, `GET /metrics`), savepoints on demand
/// (`POST /savepoints`, `POST /stop`), the client the `sluice` CLI uses for them, and a listing of
/// the checkpoints and savepoints on disk, and the web view (`GET /`).
///
/// Owns: the HTTP surface of a running job and who may use it (`StatusAccess`). Depends on the
/// runtime's status and control types and on NIO; must not depend on Kafka or the connectors.
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SluiceRuntime

/// What a `POST` route asks of the running job. Both block until the savepoint is written; the
/// server calls them on a thread of its own, never on its event loop.
public struct JobActions: Sendable {
    /// Writes a savepoint into the folder given (nil: the job's default) and returns its path.
    public var triggerSavepoint: @Sendable (_ directory: String?) throws -> String
    /// Stops the job with a savepoint and returns its path.
    public var stopWithSavepoint: @Sendable (_ directory: String?) throws -> String
    /// The folder a request's `?dir=` must lie in; nil: requests may not name a folder.
    public var savepointRoot: String?

    public init(
        triggerSavepoint: @escaping @Sendable (_ directory: String?) throws -> String,
        stopWithSavepoint: @escaping @Sendable (_ directory: String?) throws -> String,
        savepointRoot: String? = nil
    ) {
        self.triggerSavepoint = triggerSavepoint
        self.stopWithSavepoint = stopWithSavepoint
        self.savepointRoot = savepointRoot
    }

    /// The actions of a job run through `control`, writing savepoints to `defaultDirectory` unless
    /// the request names another folder.
    public static func control(_ control: JobControl, defaultDirectory: String?) -> JobActions {
        @Sendable func directory(_ requested: String?) throws -> String {
            guard let folder = requested ?? defaultDirectory else { throw JobActionError.noSavepointDirectory }
            return folder
        }
        return JobActions(
            triggerSavepoint: { try control.triggerSavepoint(directory: directory($0)) },
            stopWithSavepoint: { try control.stopWithSavepoint(directory: directory($0)) },
            savepointRoot: defaultDirectory)
    }
}

public enum JobActionError: Error, CustomStringConvertible {
    case noSavepointDirectory

    public var description: String {
        "The job has no savepoint directory: pass one (sluice savepoint --dir DIR, or POST /savepoints?dir=DIR), or start the job with --savepoint-dir or --checkpoint-dir."
    }
}

/// A small HTTP server for a job's status, metrics and savepoints. NIO's HTTP/1 codec does the
/// protocol; the routes are all that is written here.
public final class StatusServer: Sendable {
    /// The port it listens on (useful when started on port 0).
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    /// Starts serving `status()` (JSON) at `GET /status`, `registry`'s metrics at `GET /metrics`,
    /// and, when `actions` is given, `POST /savepoints` and `POST /stop` (optional `?dir=FOLDER`
    /// inside `actions.savepointRoot`); the web page at `GET /` and, with `dashboard`, its data at
    /// `GET /api/dashboard`. The write routes ask for `options.token` when it is given; beyond
    /// loopback it must be.
    public static func start(
        host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry,
        status: @escaping @Sendable () -> [UInt8], actions: JobActions? = nil,
        dashboard: (@Sendable () -> [UInt8])? = nil,
        options: StatusServerOptions = StatusServerOptions(), logger: Logger
    ) throws -> StatusServer {
        let loopback = StatusServerOptions.isLoopback(host)
        if !loopback && options.token == nil { throw StatusAccessError.tokenRequired(host: host) }
        let writeGuard = WriteRouteGuard(
            access: WriteAccessPolicy(token: options.token, tokenRequired: options.token != nil),
            confinement: SavepointFolderConfinement(root: actions?.savepointRoot))
        let limiter = ConnectionLimiter(limit: options.maxConnections)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = Routes(
            status: status, metrics: { registry.emitToBuffer() }, actions: actions, dashboard: dashboard,
            writeGuard: writeGuard, logger: logger)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard limiter.tryOpen() else { return channel.eventLoop.makeFailedFuture(StatusServerError.tooManyConnections) }
                channel.closeFuture.whenComplete { _ in limiter.closed() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(timeout: options.requestTimeout))
                    try channel.pipeline.syncOperations.addHandler(RequestSizeLimiter(limit: options.maxRequestBytes))
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(routes: routes))
                }
            }
        do {
            let channel = try bootstrap.bind(host: host, port: port).wait()
            let bound = channel.localAddress?.port ?? port
            logger.info("Status and metrics at http://\(host):\(bound)/status and /metrics")
            return StatusServer(port: bound, channel: channel, group: group)
        } catch {
            try? group.syncShutdownGracefully()
            throw StatusServerError.cannotListen(host: host, port: port, underlying: "\(error)")
        }
    }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

public enum StatusServerError: Error, CustomStringConvertible {
    case cannotListen(host: String, port: Int, underlying: String)
    case tooManyConnections

    public var description: String {
        switch self {
        case .cannotListen(let host, let port, let underlying):
            return "Cannot serve status on \(host):\(port) (\(underlying)); choose another --status-port."
        case .tooManyConnections:
            return "The status server serves its maximum of connections; a new one was closed."
        }
    }
}

/// One HTTP answer.
struct Reply: Sendable {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]

    static func json(_ status: HTTPResponseStatus, _ object: [String: String]) -> Reply {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Reply(status: status, contentType: "application/json", body: (try? Array(encoder.encode(object))) ?? Array("{}".utf8))
    }
}

struct Routes: Sendable {
    let status: @Sendable () -> [UInt8]
    let metrics: @Sendable () -> [UInt8]
    let actions: JobActions?
    let dashboard: (@Sendable () -> [UInt8])?
    let writeGuard: WriteRouteGuard
    let logger: Logger

    /// Immediate answers; nil for a route that blocks (`blockingReply`).
    func reply(method: HTTPMethod, uri: String) -> Reply? {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        if let page = DashboardRoutes.reply(method: method, path: path, report: dashboard) { return page }
        switch (method, path) {
        case (.GET, "/status"): return Reply(status: .ok, contentType: "application/json", body: status())
        case (.GET, "/metrics"): return Reply(status: .ok, contentType: "text/plain; version=0.0.4", body: metrics())
        case (.POST, "/savepoints"), (.POST, "/stop"):
            return actions == nil ? .json(.notImplemented, ["error": "This job does not take savepoints over HTTP."]) : nil
        case (_, "/status"), (_, "/metrics"): return .json(.methodNotAllowed, ["error": "Use GET \(path)."])
        case (_, "/savepoints"), (_, "/stop"): return .json(.methodNotAllowed, ["error": "Use POST \(path)."])
        default:
            return Reply(status: .notFound, contentType: "text/plain",
                         body: Array("Not found: try GET / (the web page), GET /status, GET /metrics, POST /savepoints or POST /stop\n".utf8))
        }
    }

    /// Takes the savepoint admitted by `writeGuard` (blocking the calling thread) and answers
    /// `{"savepoint": PATH}`.
    func blockingReply(_ request: WriteRouteGuard.Admitted) -> Reply {
        defer { request.finish() }
        guard let actions else { return .json(.notImplemented, ["error": "This job does not take savepoints over HTTP."]) }
        let stops = request.stopsJob
        let directory = request.directory
        do {
            let path = stops ? try actions.stopWithSavepoint(directory) : try actions.triggerSavepoint(directory)
            logger.info("\(stops ? "Stopped with savepoint" : "Savepoint written") on request: \(path)")
            return .json(.ok, ["savepoint": path])
        } catch {
            logger.error("The requested savepoint failed: \(error)")
            return .json(.conflict, ["error": "\(error)"])
        }
    }
}

/// Answers each request once its end arrives; used on its channel's event loop only. A savepoint
/// request is served from a thread of its own and its reply handed back to the event loop.
final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var uri = "/"
    private var method = HTTPMethod.GET
    private var headers = HTTPHeaders()
    private var keepAlive = false

    init(routes: Routes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            uri = head.uri
            method = head.method
            headers = head.headers
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            if let reply = routes.reply(method: method, uri: uri) {
                send(reply, context: context, keepAlive: keepAlive)
                return
            }
            let request: WriteRouteGuard.Admitted
            switch routes.writeGuard.admit(uri: uri, headers: headers) {
            case .refused(let reply):
                send(reply, context: context, keepAlive: keepAlive)
                return
            case .admitted(let admitted):
                request = admitted
            }
            let routes = self.routes
            let loop = context.eventLoop
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            let thread = Thread {
                let reply = routes.blockingReply(request)
                loop.execute {
                    // The client may have given up while the savepoint was taken.
                    guard bound.value.context.channel.isActive else { return }
                    bound.value.handler.send(reply, context: bound.value.context, keepAlive: false)
                }
            }
            thread.name = "sluice status savepoint"
            thread.start()
        }
    }

    private func send(_ reply: Reply, context: ChannelHandlerContext, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(reply.body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: reply.body.count)
        buffer.writeBytes(reply.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let flushed = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            flushed.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
