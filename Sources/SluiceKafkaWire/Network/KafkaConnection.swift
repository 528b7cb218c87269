import NIOCore
import NIOPosix

/// Timeouts, identity and security of wire connections.
package struct KafkaConnectionOptions: Sendable {
    /// Sent as the request header's client_id; brokers log it.
    public var clientId: String
    public var connectTimeout: Duration
    /// How long a request may wait for its answer; on expiry the connection is closed.
    public var requestTimeout: Duration
    /// Larger response frames are treated as malformed (protects against garbage lengths).
    public var maxFrameBytes: Int
    /// TLS and SASL, from the librdkafka properties the job's clients get (`KafkaWireSecurity(properties:)`).
    public var security: KafkaWireSecurity

    public init(clientId: String = KafkaWire.defaultClientId, connectTimeout: Duration = .seconds(5),
                requestTimeout: Duration = .seconds(15), maxFrameBytes: Int = 256 * 1024 * 1024,
                security: KafkaWireSecurity = .plaintext) {
        self.security = security
        self.clientId = clientId
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxFrameBytes = maxFrameBytes
    }
}

/// One TCP connection to one broker, speaking length-prefixed Kafka frames with correlation ids.
///
/// Built on SwiftNIO (ClientBootstrap, a frame decoder and a handler that matches answers to requests) rather
/// than on POSIX sockets: NIO gives connect timeouts, closed-connection detection and scheduled request
/// timeouts without hand-written poll loops, and the same connection serves the blocking and the async API.
/// The blocking calls wait on a future and must run on a dedicated thread (the runtime's task threads),
/// never on an event loop or Swift's cooperative pool; the `async` variants suspend instead.
///
/// On connect it performs the ApiVersions v0 handshake and keeps the broker's version ranges, so callers can
/// pick versions with `version(for:)`.
package final class KafkaConnection: Sendable {
    public let host: String
    public let port: Int
    public let options: KafkaConnectionOptions
    /// The broker's supported version range per API key, from the handshake.
    public let apiVersions: ApiVersionsResponse
    private let channel: any Channel

    private init(host: String, port: Int, options: KafkaConnectionOptions, channel: any Channel,
                 apiVersions: ApiVersionsResponse) {
        self.host = host
        self.port = port
        self.options = options
        self.channel = channel
        self.apiVersions = apiVersions
    }

    deinit { channel.close(promise: nil) }

    // MARK: Connecting

    /// Connects and performs the ApiVersions handshake, blocking the calling thread (bounded by the timeouts).
    public static func connect(host: String, port: Int, options: KafkaConnectionOptions = KafkaConnectionOptions(),
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws -> KafkaConnection {
        let channel = try waitMapped(openChannel(host: host, port: port, options: options, group: group),
                                     host: host, port: port, during: "connect")
        let versions: ApiVersionsResponse
        do {
            versions = try handshake(channel: channel, host: host, port: port, options: options)
        } catch {
            throw options.security.explainHandshakeFailure(error, host: host, port: port)
        }
        let connection = KafkaConnection(host: host, port: port, options: options, channel: channel, apiVersions: versions)
        try connection.authenticateIfConfigured()
        return connection
    }

    /// Connects and performs the ApiVersions handshake without blocking a thread.
    public static func connect(host: String, port: Int, options: KafkaConnectionOptions = KafkaConnectionOptions(),
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> KafkaConnection {
        let channel: any Channel
        do {
            channel = try await openChannel(host: host, port: port, options: options, group: group).get()
        } catch {
            throw mapError(error, host: host, port: port, during: "connect")
        }
        let request = ApiVersionsRequest(version: 0)
        let frame: ByteBuffer
        do {
            frame = try await exchange(channel: channel, request: request, options: options, host: host, port: port).get()
        } catch {
            channel.close(promise: nil)
            throw options.security.explainHandshakeFailure(mapError(error, host: host, port: port, during: "ApiVersions"),
                                                           host: host, port: port)
        }
        let versions = try checkHandshake(request.decodeResponseAfterCorrelationId(frame), channel: channel)
        let connection = KafkaConnection(host: host, port: port, options: options, channel: channel, apiVersions: versions)
        try await connection.authenticateIfConfigured()
        return connection
    }

    private static func openChannel(host: String, port: Int, options: KafkaConnectionOptions,
                                    group: any EventLoopGroup) -> EventLoopFuture<any Channel> {
        let maxFrame = options.maxFrameBytes
        let (tls, tlsTimeout) = (options.security.tls, options.connectTimeout)
        return ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandlers(to: channel, host: host, port: port, timeout: TimeAmount(tlsTimeout))
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame)),
                        KafkaRequestHandler(host: host, port: port))
                }
            }
            .connect(host: host, port: port)
            .flatMap { channel in WireTLS.handshakeCompleted(on: channel) }
    }

    private static func handshake(channel: any Channel, host: String, port: Int,
                                  options: KafkaConnectionOptions) throws -> ApiVersionsResponse {
        let request = ApiVersionsRequest(version: 0)
        do {
            let frame = try waitMapped(exchange(channel: channel, request: request, options: options, host: host, port: port),
                                       host: host, port: port, during: "ApiVersions")
            return try checkHandshake(request.decodeResponseAfterCorrelationId(frame), channel: channel)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    private static func checkHandshake(_ response: ApiVersionsResponse, channel: any Channel) throws -> ApiVersionsResponse {
        guard response.errorCode == .none else {
            channel.close(promise: nil)
            throw KafkaWireError.broker(api: ApiVersionsRequest.apiName, code: response.errorCode, context: "handshake")
        }
        return response
    }

    // MARK: Requests

    /// The highest version of `request` both this module and the broker speak.
    public func version<Request: KafkaRequest>(for request: Request.Type) throws -> Int16 {
        try request.negotiateVersion(broker: apiVersions.range(of: request))
    }

    /// Sends a request and waits for its answer, blocking the calling thread (bounded by the request timeout).
    public func send<Request: KafkaRequest>(_ request: Request) throws -> Request.Response {
        let frame = try Self.waitMapped(
            Self.exchange(channel: channel, request: request, options: options, host: host, port: port),
            host: host, port: port, during: Request.apiName)
        return try request.decodeResponseAfterCorrelationId(frame)
    }

    /// Sends a request and suspends until its answer (bounded by the request timeout).
    public func send<Request: KafkaRequest>(_ request: Request) async throws -> Request.Response {
        let frame: ByteBuffer
        do {
            frame = try await Self.exchange(channel: channel, request: request, options: options, host: host, port: port).get()
        } catch {
            throw Self.mapError(error, host: host, port: port, during: Request.apiName)
        }
        return try request.decodeResponseAfterCorrelationId(frame)
    }

    public var isActive: Bool { channel.isActive }

    /// Closes the connection; outstanding requests fail with `connectionClosed`.
    public func close() { channel.close(promise: nil) }

    private static func exchange<Request: KafkaRequest>(
        channel: any Channel, request: Request, options: KafkaConnectionOptions, host: String, port: Int
    ) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let clientId = options.clientId
        let outgoing = OutgoingRequest(
            apiName: Request.apiName, timeout: TimeAmount(options.requestTimeout), response: promise,
            encode: { correlationId in request.encodeFrame(correlationId: correlationId, clientId: clientId).buffer })
        channel.writeAndFlush(outgoing).whenFailure { _ in
            // Never reached the handler (the channel was closed): completing twice is a no-op in NIO.
            promise.fail(KafkaWireError.connectionClosed(host: host, port: port, during: Request.apiName))
        }
        return promise.futureResult
    }

    private static func waitMapped<Value: Sendable>(_ future: EventLoopFuture<Value>, host: String, port: Int,
                                          during: String) throws -> Value {
        do {
            return try future.wait()
        } catch {
            throw mapError(error, host: host, port: port, during: during)
        }
    }

    static func mapError(_ error: any Error, host: String, port: Int, during: String) -> KafkaWireError {
        if let wire = error as? KafkaWireError { return wire }
        if case ChannelError.connectTimeout(let amount) = error {
            return .connectTimeout(host: host, port: port, milliseconds: amount.nanoseconds / 1_000_000)
        }
        if during == "connect" { return .connectionRefused(host: host, port: port, reason: "\(error)") }
        return .connectionClosed(host: host, port: port, during: "\(during): \(error)")
    }
}

/// A request on its way to the handler, which assigns the correlation id and encodes the frame.
struct OutgoingRequest: Sendable {
    let apiName: String
    let timeout: TimeAmount
    let response: EventLoopPromise<ByteBuffer>
    let encode: @Sendable (Int32) -> ByteBuffer
}

/// Splits the inbound byte stream into frames: an int32 size, then that many bytes.
/// Written by hand: the length-field decoder lives in swift-nio-extras, which is not a project dependency.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return .needMoreData
        }
        guard size >= 4, Int(size) <= maxFrameBytes else {
            throw KafkaWireError.malformed("a response frame of \(size) bytes")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        guard let frame = buffer.readSlice(length: Int(size)) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Matches answers to requests by correlation id, times requests out, and fails every outstanding
/// request when the connection closes. All its state lives on the channel's event loop.
final class KafkaRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let apiName: String
        let promise: EventLoopPromise<ByteBuffer>
        let timeoutTask: Scheduled<Void>
    }

    private let host: String
    private let port: Int
    private var nextCorrelationId: Int32 = 1
    private var pending: [Int32: Pending] = [:]
    private var closedReason: String?

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedReason {
            request.response.fail(KafkaWireError.connectionClosed(host: host, port: port, during: "\(request.apiName) (\(closedReason))"))
            promise?.succeed()
            return
        }
        let correlationId = nextCorrelationId
        nextCorrelationId = nextCorrelationId == Int32.max ? 1 : nextCorrelationId + 1
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let timeout = request.timeout
        let task = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            loopBoundSelf.value.timedOut(correlationId, after: timeout, context: loopBoundContext.value)
        }
        pending[correlationId] = Pending(apiName: request.apiName, promise: request.response, timeoutTask: task)
        context.writeAndFlush(wrapOutboundOut(request.encode(correlationId)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let correlationId = frame.readInteger(endianness: .big, as: Int32.self),
              let entry = pending.removeValue(forKey: correlationId) else {
            // An answer nobody waits for (its request timed out): the connection is closing anyway.
            return
        }
        entry.timeoutTask.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(reason: closedReason ?? "closed by the broker")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(reason: "\(error)")
        context.close(promise: nil)
    }

    private func timedOut(_ correlationId: Int32, after timeout: TimeAmount, context: ChannelHandlerContext) {
        guard let entry = pending.removeValue(forKey: correlationId) else { return }
        entry.promise.fail(KafkaWireError.requestTimeout(api: entry.apiName, host: host, port: port,
                                                         milliseconds: timeout.nanoseconds / 1_000_000))
        // Later answers on this connection could no longer be trusted to be in order: close it.
        closedReason = "a request timed out"
        failAll(reason: "another request timed out")
        context.close(promise: nil)
    }

    private func failAll(reason: String) {
        if closedReason == nil { closedReason = reason }
        let entries = pending
        pending.removeAll()
        for entry in entries.values {
            entry.timeoutTask.cancel()
            entry.promise.fail(KafkaWireError.connectionClosed(host: host, port: port, during: entry.apiName))
        }
    }
}
