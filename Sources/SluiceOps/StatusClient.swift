import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of the status server, for the `sluice` CLI: `GET /status` decoded, and the
/// savepoint requests. Foundation's URLSession would need libcurl in every image, and NIO has no
/// HTTP client of its own, so the one request-response exchange is written here over NIO's codec.
public struct StatusClient: Sendable {
    public let baseURL: String
    /// Seconds to wait for an answer; a savepoint of a large job takes a while.
    public var timeoutSeconds: Int64
    /// Sent as `Authorization: Bearer TOKEN` (the job's `--status-token-file`).
    public var token: String?

    public init(baseURL: String, timeoutSeconds: Int64 = 120, token: String? = nil) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/status") { url.removeLast("/status".count) }
        self.baseURL = url
        self.timeoutSeconds = timeoutSeconds
        self.token = token
    }

    public func status() throws -> JobStatusReport {
        let (code, body) = try request(.GET, "/status")
        guard code == 200 else { throw StatusClientError.refused(url: baseURL + "/status", code: code, message: String(decoding: body, as: UTF8.self)) }
        do {
            return try JobStatusReport.decode(body)
        } catch {
            throw StatusClientError.unreadable(url: baseURL + "/status", reason: "\(error)")
        }
    }

    public func metrics() throws -> String {
        let (code, body) = try request(.GET, "/metrics")
        guard code == 200 else { throw StatusClientError.refused(url: baseURL + "/metrics", code: code, message: String(decoding: body, as: UTF8.self)) }
        return String(decoding: body, as: UTF8.self)
    }

    /// Asks for a savepoint (or a stop with one) and returns its path once written.
    public func savepoint(stoppingJob: Bool, directory: String?) throws -> String {
        var path = stoppingJob ? "/stop" : "/savepoints"
        if let directory {
            var components = URLComponents()
            components.queryItems = [URLQueryItem(name: "dir", value: directory)]
            path += components.percentEncodedQuery.map { "?" + $0 } ?? ""
        }
        let (code, body) = try request(.POST, path)
        let answer = (try? JSONDecoder().decode([String: String].self, from: Data(body))) ?? [:]
        guard code == 200, let savepoint = answer["savepoint"] else {
            throw StatusClientError.refused(url: baseURL + path, code: code, message: answer["error"] ?? String(decoding: body, as: UTF8.self))
        }
        return savepoint
    }

    /// One request on a fresh connection; returns the status code and body.
    public func request(_ method: HTTPMethod, _ path: String) throws -> (Int, [UInt8]) {
        guard let url = URLComponents(string: baseURL), let host = url.host, url.scheme == "http" else {
            throw StatusClientError.badURL(baseURL)
        }
        let port = url.port ?? 80
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let response = group.next().makePromise(of: (Int, [UInt8]).self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: response))
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.connect(host: host, port: port).wait()
        } catch {
            let failure = StatusClientError.unreachable(url: baseURL, reason: "\(error)")
            response.fail(failure)  // a promise must be completed before it is dropped
            throw failure
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: url.path + path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(timeoutSeconds)) {
            response.fail(StatusClientError.unreachable(url: baseURL + path, reason: "no answer within \(timeoutSeconds) s"))
        }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try response.futureResult.wait()
    }
}

public enum StatusClientError: Error, CustomStringConvertible {
    case badURL(String)
    case unreachable(url: String, reason: String)
    case refused(url: String, code: Int, message: String)
    case unreadable(url: String, reason: String)

    public var description: String {
        switch self {
        case .badURL(let url):
            return "'\(url)' is not an http://host:port address: give the job's status URL (click-count-job --status-port prints it)."
        case .unreachable(let url, let reason):
            return "Cannot reach \(url) (\(reason)): is the job running with --status-port, and is the address right?"
        case .refused(let url, let code, let message):
            return "\(url) answered \(code): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .unreadable(let url, let reason):
            return "\(url) did not answer with a job status (\(reason)): is this a Sluice job's status address?"
        }
    }
}

/// Collects one response; used on its channel's event loop only.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(Int, [UInt8])>
    private var code = 0
    private var body: [UInt8] = []

    init(promise: EventLoopPromise<(Int, [UInt8])>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): code = Int(head.status.code)
        case .body(var buffer): body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end: promise.succeed((code, body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.fail(StatusClientError.unreachable(url: "the job", reason: "the connection closed before an answer"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(StatusClientError.unreachable(url: "\(context.channel.remoteAddress.map { "\($0)" } ?? "the job")", reason: "the connection closed before an answer"))
    }
}
