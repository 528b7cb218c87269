/// One SASL exchange (PLAIN or SCRAM) as a sequence of client messages, independent of how they travel:
/// `KafkaConnection` carries them in SaslAuthenticate requests after a SaslHandshake v1.
struct SaslConversation {
    private let credentials: KafkaWireSecurity.SaslCredentials
    private let host: String
    private let port: Int
    private var scram: ScramClient?
    private var expectedServerSignature: [UInt8]?
    private var step = 0

    init(credentials: KafkaWireSecurity.SaslCredentials, host: String, port: Int) {
        self.credentials = credentials
        self.host = host
        self.port = port
        switch credentials.mechanism {
        case .plain: scram = nil
        case .scramSha256: scram = ScramClient(hash: .sha256, username: credentials.username, password: credentials.password)
        case .scramSha512: scram = ScramClient(hash: .sha512, username: credentials.username, password: credentials.password)
        }
    }

    var handshake: SaslHandshakeRequest { SaslHandshakeRequest(mechanism: credentials.mechanism.rawValue) }

    /// Checks that the broker offers the mechanism.
    func check(_ response: SaslHandshakeResponse) throws(KafkaWireError) {
        guard response.errorCode == .none else {
            if response.errorCode.rawValue == Self.unsupportedSaslMechanism
                || !response.mechanisms.contains(credentials.mechanism.rawValue) {
                throw .security(.mechanismNotOffered(host: host, port: port, mechanism: credentials.mechanism.rawValue,
                                                     offered: response.mechanisms))
            }
            throw failure("the broker answered SaslHandshake with \(response.errorCode)")
        }
    }

    /// The first message: PLAIN's `\0user\0password`, or SCRAM's client-first.
    var firstMessage: [UInt8] {
        if let scram { return Array(scram.clientFirstMessage.utf8) }
        return [0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8)
    }

    /// The next message after the broker's answer, or nil when authentication is complete.
    mutating func next(after response: SaslAuthenticateResponse) throws(KafkaWireError) -> [UInt8]? {
        guard response.errorCode == .none else {
            let message = response.errorMessage ?? "\(response.errorCode)"
            if response.errorCode.rawValue == Self.saslAuthenticationFailed {
                throw .security(.authenticationFailed(host: host, port: port, mechanism: credentials.mechanism.rawValue,
                                                      username: credentials.username, message: message))
            }
            throw failure("the broker answered SaslAuthenticate with \(response.errorCode): \(message)")
        }
        step += 1
        guard let scram else { return nil }
        let text = String(decoding: response.authBytes, as: UTF8.self)
        do {
            if step == 1 {
                let final = try scram.clientFinal(serverFirst: text)
                expectedServerSignature = final.expectedServerSignature
                return Array(final.message.utf8)
            }
            try scram.verify(serverFinal: text, expected: expectedServerSignature ?? [])
            return nil
        } catch {
            throw failure(error.reason)
        }
    }

    private func failure(_ reason: String) -> KafkaWireError {
        .security(.saslExchangeFailed(host: host, port: port, mechanism: credentials.mechanism.rawValue, reason: reason))
    }

    static let unsupportedSaslMechanism: Int16 = 33
    static let saslAuthenticationFailed: Int16 = 58
}

extension KafkaConnection {
    /// Runs the SASL exchange the options ask for, if any; closes the connection when it fails.
    func authenticateIfConfigured() throws {
        guard let credentials = options.security.sasl else { return }
        do {
            var conversation = SaslConversation(credentials: credentials, host: host, port: port)
            try conversation.check(send(conversation.handshake))
            let version = try version(for: SaslAuthenticateRequest.self)
            var outgoing: [UInt8]? = conversation.firstMessage
            while let bytes = outgoing {
                outgoing = try conversation.next(after: send(SaslAuthenticateRequest(version: version, authBytes: bytes)))
            }
        } catch {
            close()
            throw error
        }
    }

    /// Runs the SASL exchange the options ask for, if any, without blocking a thread.
    func authenticateIfConfigured() async throws {
        guard let credentials = options.security.sasl else { return }
        do {
            var conversation = SaslConversation(credentials: credentials, host: host, port: port)
            try conversation.check(await send(conversation.handshake))
            let version = try version(for: SaslAuthenticateRequest.self)
            var outgoing: [UInt8]? = conversation.firstMessage
            while let bytes = outgoing {
                outgoing = try conversation.next(after: await send(SaslAuthenticateRequest(version: version, authBytes: bytes)))
            }
        } catch {
            close()
            throw error
        }
    }
}
