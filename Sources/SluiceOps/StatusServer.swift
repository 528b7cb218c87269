/// SluiceOps: what operators look at while a job runs — its status as JSON and its metrics in
/// Prometheus' text format, served over HTTP (`GET /status`, `GET /metrics`).
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SluiceRuntime

/// A small HTTP server for a job's status and metrics. NIO's HTTP/1 codec does the protocol; the
/// two routes are all that is written here.
public final class StatusServer: Sendable {
    /// The port it listens on (useful when started on port 0).
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    /// Starts serving `status()` (JSON) at `/status` and `registry`'s metrics at `/metrics`.
    public static func start(
        host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry,
        status: @escaping @Sendable () -> [UInt8], logger: Logger
    ) throws -> StatusServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = Routes(status: status, metrics: { registry.emitToBuffer() })
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
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

    public var description: String {
        switch self {
        case .cannotListen(let host, let port, let underlying):
            return "Cannot serve status on \(host):\(port) (\(underlying)); choose another --status-port."
        }
    }
}

struct Routes: Sendable {
    let status: @Sendable () -> [UInt8]
    let metrics: @Sendable () -> [UInt8]

    func respond(to uri: String) -> (HTTPResponseStatus, String, [UInt8]) {
        switch uri.split(separator: "?").first.map(String.init) ?? uri {
        case "/status": return (.ok, "application/json", status())
        case "/metrics": return (.ok, "text/plain; version=0.0.4", metrics())
        default: return (.notFound, "text/plain", Array("Not found: try /status or /metrics\n".utf8))
        }
    }
}

/// Answers each request once its end arrives; used on its channel's event loop only.
final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var uri = "/"
    private var keepAlive = false

    init(routes: Routes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            uri = head.uri
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let (status, contentType, body) = routes.respond(to: uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let flushed = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                flushed.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

/// The JSON a job's `/status` shows.
public struct JobStatusReport: Codable, Sendable {
    public var job: String
    public var status: JobStatus

    public init(job: String, status: JobStatus) {
        self.job = job
        self.status = status
    }

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }
}
