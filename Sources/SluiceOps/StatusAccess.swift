import Foundation
import NIOCore
import NIOHTTP1

/// Who may use the status server's write routes (`POST /savepoints`, `POST /stop`), and how much a
/// client may ask of it. Reads (`GET /status`, `GET /metrics`) stay open to whoever can connect:
/// on loopback that is the machine's users, beyond it the token guards what changes the job.
public struct StatusServerOptions: Sendable {
    /// The bearer token the write routes require, on loopback too; nil: none, which only a server
    /// on loopback may have.
    public var token: String?
    /// Connections served at once; more are accepted and closed at once.
    public var maxConnections = 64
    /// Bytes of request line, headers and body one request may take.
    public var maxRequestBytes = 16 * 1024
    /// A request must arrive whole within this long after the connection opens or the previous
    /// answer went out; slow clients (slowloris) are cut off after it.
    public var requestTimeout = TimeAmount.seconds(10)

    public init(token: String? = nil) {
        self.token = token
    }

    /// True when `host` accepts connections from this machine only.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return lowered == "localhost" || lowered == "::1" || lowered.hasPrefix("127.")
    }
}

/// Reads the status token the way the job and the CLI both do: `--status-token-file FILE`, else
/// `$SLUICE_STATUS_TOKEN_FILE`, else `$SLUICE_STATUS_TOKEN`.
public enum StatusToken {
    /// Longer files are not tokens; refusing them keeps a wrong path from being read whole.
    static let maxFileBytes = 4096

    public static func resolve(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let path = file ?? environment["SLUICE_STATUS_TOKEN_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return try read(path)
        }
        if let value = environment["SLUICE_STATUS_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty {
            return value
        }
        return nil
    }

    /// Writes a fresh random token to `path` (readable by its owner only) unless the file exists;
    /// the playground's job does this so its client container can read the token from the volume.
    public static func createIfMissing(at path: String) throws {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor < 0 {
            if errno == EEXIST { return }
            throw StatusAccessError.unreadableTokenFile(path)
        }
        defer { close(descriptor) }
        let bytes = Array((token + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { throw StatusAccessError.unreadableTokenFile(path) }
    }

    static func read(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StatusAccessError.unreadableTokenFile(path) }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? nil
        guard let data, data.count <= maxFileBytes else { throw StatusAccessError.unreadableTokenFile(path) }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw StatusAccessError.unreadableTokenFile(path) }
        return token
    }
}

public enum StatusAccessError: Error, CustomStringConvertible {
    case tokenRequired(host: String)
    case unreadableTokenFile(String)

    public var description: String {
        switch self {
        case .tokenRequired(let host):
            return "The status server would listen on \(host), beyond loopback, without a token: give --status-token-file FILE (or set SLUICE_STATUS_TOKEN), or listen on 127.0.0.1."
        case .unreadableTokenFile(let path):
            return "Cannot read a status token from \(path): it must be a readable file of at most \(StatusToken.maxFileBytes) bytes holding the token."
        }
    }
}

/// The checks a write request passes before it reaches the job: the bearer token when one is
/// required, and an `Origin` header only from the job's own web page (`DashboardOriginRule`: the
/// origin is the server itself, and the token is valid or the page was opened on loopback). Any
/// other page's request carries another origin, so no cross-site request may take a savepoint or
/// stop the job.
struct WriteAccessPolicy: Sendable {
    let token: String?
    let tokenRequired: Bool

    func refusal(_ headers: HTTPHeaders) -> Reply? {
        let presented = headers["Authorization"].first.flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst("bearer ".count)) : nil
        }
        let tokenValid = token.map { expected in
            presented.map { Self.equalInConstantTime(Array($0.utf8), Array(expected.utf8)) } ?? false
        } ?? false
        if let origin = headers["Origin"].first,
           !DashboardOriginRule.allows(origin: origin, host: headers["Host"].first, tokenValid: tokenValid) {
            return .json(.forbidden, ["error": "Requests from other web pages (an Origin header that is not this server's own page) may not take savepoints or stop the job; use the job's web view or the sluice CLI."])
        }
        guard tokenRequired else { return nil }
        guard presented != nil else {
            return .json(.unauthorized, ["error": "This route needs the status token: sluice --status-token-file FILE (or SLUICE_STATUS_TOKEN), sent as Authorization: Bearer TOKEN."])
        }
        guard tokenValid else {
            return .json(.forbidden, ["error": "The status token is wrong."])
        }
        return nil
    }

    /// Compares without stopping at the first difference, so timing does not reveal a prefix.
    static func equalInConstantTime(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        var difference: UInt8 = left.count == right.count ? 0 : 1
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}
