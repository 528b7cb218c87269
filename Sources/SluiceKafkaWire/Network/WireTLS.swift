import NIOCore
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TLS for wire connections, with swift-nio-ssl: the trust roots, the client certificate for mutual TLS and
/// hostname verification, loaded once from librdkafka's `ssl.*` properties.
public struct WireTLS: Sendable {
    let context: NIOSSLContext
    /// librdkafka's `ssl.endpoint.identification.algorithm=https` (its default): the broker's certificate
    /// must name the host we connect to.
    public let verifiesHostname: Bool
    /// Where the trusted CAs come from, for error messages.
    let trustSource: String

    init(properties: [String: String]) throws(KafkaWireError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        let algorithm = properties["ssl.endpoint.identification.algorithm"]?.lowercased() ?? "https"
        guard algorithm == "https" || algorithm == "none" else {
            throw KafkaWireSecurity.refuse("ssl.endpoint.identification.algorithm=\(algorithm) must be https or none")
        }
        verifiesHostname = algorithm == "https"
        let verifiesCertificate = properties["enable.ssl.certificate.verification"]?.lowercased() != "false"
        configuration.certificateVerification = !verifiesCertificate ? .none
            : verifiesHostname ? .fullVerification : .noHostnameVerification

        if let ca = properties["ssl.ca.location"], ca != "probe" {
            let certificates = try Self.load("ssl.ca.location", ca) { try NIOSSLCertificate.fromPEMFile($0) }
            configuration.trustRoots = .certificates(certificates)
            trustSource = "ssl.ca.location=\(ca)"
        } else {
            configuration.trustRoots = .default
            trustSource = "the system's trusted CAs (set ssl.ca.location to the cluster's CA file)"
        }

        switch (properties["ssl.certificate.location"], properties["ssl.key.location"]) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            let chain = try Self.load("ssl.certificate.location", certificate) { try NIOSSLCertificate.fromPEMFile($0) }
            configuration.certificateChain = chain.map { .certificate($0) }
            let password = properties["ssl.key.password"]
            let privateKey = try Self.load("ssl.key.location", key) { path in
                if let password {
                    try NIOSSLPrivateKey(file: path, format: .pem) { supply in supply(Array(password.utf8)) }
                } else {
                    try NIOSSLPrivateKey(file: path, format: .pem)
                }
            }
            configuration.privateKey = .privateKey(privateKey)
        case (nil, _?), (_?, nil):
            throw KafkaWireSecurity.refuse("mutual TLS needs both ssl.certificate.location and ssl.key.location")
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .security(.unsupportedConfiguration("the TLS settings were refused by swift-nio-ssl: \(error)"))
        }
    }

    private static func load<Value>(_ key: String, _ path: String,
                                    _ body: (String) throws -> Value) throws(KafkaWireError) -> Value {
        guard access(path, R_OK) == 0 else {
            throw .security(.unreadableFile(key: key, path: path, reason: "no readable file there"))
        }
        do {
            return try body(path)
        } catch {
            throw .security(.unreadableFile(key: key, path: path, reason: "\(error)"))
        }
    }

    /// Adds the TLS client and a handler that reports the handshake's outcome in readable words.
    func addHandlers(to channel: any Channel, host: String, port: Int, timeout: TimeAmount) throws {
        // SNI carries names only; for an IP address NIOSSL verifies against the peer's address instead.
        let isAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
        let watcher = TLSHandshakeWatcher(outcome: channel.eventLoop.makePromise(), host: host, port: port,
                                          timeout: timeout, trustSource: trustSource)
        do {
            try channel.pipeline.syncOperations.addHandlers(handler, watcher)
        } catch {
            watcher.outcome.fail(error)
            throw error
        }
    }

    /// `channel` once its TLS handshake (if it has one) completed; otherwise the channel is closed and the
    /// future fails with the reason.
    static func handshakeCompleted(on channel: any Channel) -> EventLoopFuture<any Channel> {
        channel.eventLoop.flatSubmit {
            guard let watcher = try? channel.pipeline.syncOperations.handler(type: TLSHandshakeWatcher.self) else {
                return channel.eventLoop.makeSucceededFuture(channel)
            }
            return watcher.outcome.futureResult.map { channel }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }
}

/// Turns the TLS handshake's end (success, a swift-nio-ssl error, a close or silence) into one future
/// with an error that names the cause. Lives on the channel's event loop.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let outcome: EventLoopPromise<Void>
    private let host: String
    private let port: Int
    private let timeout: TimeAmount
    private let trustSource: String
    private var timer: Scheduled<Void>?
    private var finished = false

    init(outcome: EventLoopPromise<Void>, host: String, port: Int, timeout: TimeAmount, trustSource: String) {
        self.outcome = outcome
        self.host = host
        self.port = port
        self.timeout = timeout
        self.trustSource = trustSource
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let (host, port, ms) = (host, port, timeout.nanoseconds / 1_000_000)
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            loopBoundSelf.value.finish(.failure(KafkaWireError.security(
                .tlsHandshakeTimeout(host: host, port: port, milliseconds: ms))))
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.failure(KafkaWireError.connectionClosed(host: host, port: port, during: "the TLS handshake")))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        let reason = TLSFailureReason.explain(error, peerCertificate: peer, host: host, trustSource: trustSource)
        finish(.failure(KafkaWireError.security(.tlsHandshakeFailed(host: host, port: port, reason: reason))))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(KafkaWireError.security(.tlsHandshakeFailed(
            host: host, port: port, reason: TLSFailureReason.closedDuringHandshake))))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        timer = nil
        outcome.completeWith(result)
    }
}
