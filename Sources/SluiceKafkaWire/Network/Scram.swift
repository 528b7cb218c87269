import Crypto
import _CryptoExtras
import Foundation

/// The client side of SCRAM (RFC 5802) as Kafka uses it (RFC 7677 for SHA-256, the same with SHA-512):
/// no channel binding, no extensions. Every primitive is swift-crypto's: HMAC and the hash from `Crypto`,
/// Hi() is PBKDF2-HMAC from `_CryptoExtras` (RFC 5802 defines Hi as PBKDF2 with dkLen = the hash length).
/// The password is used as UTF-8 without SASLprep, as Kafka's own Java client does.
struct ScramClient {
    enum Hash {
        case sha256, sha512
    }

    /// Kafka's ScramMechanism minimum; a server asking for fewer iterations is refused, as Kafka's client does.
    static let minimumIterations = 4096

    let hash: Hash
    let username: String
    let password: String
    let clientNonce: String

    init(hash: Hash, username: String, password: String, clientNonce: String = ScramClient.makeNonce()) {
        self.hash = hash
        self.username = username
        self.password = password
        self.clientNonce = clientNonce
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// `n=user,r=nonce` with `=` and `,` escaped in the name.
    var clientFirstBare: String {
        let name = username.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        return "n=\(name),r=\(clientNonce)"
    }

    var clientFirstMessage: String { "n,," + clientFirstBare }

    /// What the client-final message needs, and the server signature to expect.
    struct Final {
        let message: String
        let expectedServerSignature: [UInt8]
    }

    /// Answers the server-first message (`r=nonce,s=salt,i=iterations`).
    func clientFinal(serverFirst: String) throws(ScramFailure) -> Final {
        let fields = Self.fields(serverFirst)
        guard let nonce = fields["r"], let saltText = fields["s"], let iterationsText = fields["i"] else {
            throw ScramFailure("the server-first message '\(serverFirst)' lacks r, s or i")
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw ScramFailure("the server's nonce does not extend ours")
        }
        guard let salt = Data(base64Encoded: saltText) else { throw ScramFailure("the salt is not base64") }
        guard let iterations = Int(iterationsText), iterations >= Self.minimumIterations else {
            throw ScramFailure("the server asks for \(iterationsText) iterations, below the minimum of \(Self.minimumIterations)")
        }
        let withoutProof = "c=biws,r=\(nonce)"  // biws = base64("n,,"): no channel binding
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let salted: SymmetricKey
        do {
            salted = try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: hash.pbkdf2, outputByteCount: hash.byteCount,
                unsafeUncheckedRounds: iterations)
        } catch {
            throw ScramFailure("deriving the salted password failed: \(error)")
        }
        let clientKey = hash.hmac(key: salted, Array("Client Key".utf8))
        let storedKey = hash.digest(clientKey)
        let clientSignature = hash.hmac(key: SymmetricKey(data: storedKey), authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = hash.hmac(key: salted, Array("Server Key".utf8))
        let serverSignature = hash.hmac(key: SymmetricKey(data: serverKey), authMessage)
        return Final(message: "\(withoutProof),p=\(Data(proof).base64EncodedString())",
                     expectedServerSignature: serverSignature)
    }

    /// Checks the server-final message (`v=signature`, or `e=error`): proof that the server knows the password.
    func verify(serverFinal: String, expected: [UInt8]) throws(ScramFailure) {
        let fields = Self.fields(serverFinal)
        if let error = fields["e"] { throw ScramFailure("the server refused: \(error)") }
        guard let text = fields["v"], let signature = Data(base64Encoded: text) else {
            throw ScramFailure("the server-final message '\(serverFinal)' has no signature")
        }
        guard signature.count == expected.count,
              zip(signature, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw ScramFailure("the server's signature is wrong: it does not know this user's password")
        }
    }

    /// `a=1,b=2` as a dictionary; values may contain `=` (base64 padding).
    static func fields(_ message: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in message.split(separator: ",") {
            guard let equals = part.firstIndex(of: "="), equals != part.startIndex else { continue }
            result[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        return result
    }
}

struct ScramFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension ScramClient.Hash {
    var byteCount: Int { self == .sha256 ? SHA256.byteCount : SHA512.byteCount }

    var pbkdf2: KDF.Insecure.PBKDF2.HashFunction { self == .sha256 ? .sha256 : .sha512 }

    func hmac(key: SymmetricKey, _ message: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    func digest(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }
}
