import NIOHTTP1

/// The job's web page (`GET /`, one self-contained HTML file: Resources/dashboard.html, compiled
/// into the binary so a copied executable serves it too) and the JSON it polls (`GET /api/dashboard`).
/// The page's buttons call the existing `POST /savepoints` and `POST /stop`.
enum DashboardRoutes {
    static let page: [UInt8] = PackageResources.dashboard_html

    /// The answer for a dashboard route; nil for any other path.
    static func reply(method: HTTPMethod, path: String, report: (@Sendable () -> [UInt8])?) -> Reply? {
        switch path {
        case "/", "/index.html":
            guard method == .GET else { return .json(.methodNotAllowed, ["error": "Use GET \(path)."]) }
            return Reply(status: .ok, contentType: "text/html; charset=utf-8", body: page)
        case "/api/dashboard":
            guard method == .GET else { return .json(.methodNotAllowed, ["error": "Use GET \(path)."]) }
            guard let report else { return .json(.notFound, ["error": "This job serves no dashboard data."]) }
            return Reply(status: .ok, contentType: "application/json", body: report())
        default:
            return nil
        }
    }
}

/// When a write route (`POST /savepoints`, `POST /stop`) may accept a request that carries an
/// `Origin` header — browsers send one on every `fetch()` POST, same-origin included. Only the
/// server's own page may: the Origin must name the very host and port the request was sent to
/// (`Host`), and either the bearer token was valid or that host is a loopback name, so a page of
/// another site can neither forge it (browsers set Origin) nor reach it by rebinding its own name
/// to 127.0.0.1 (its Host would then be its own name, not a loopback one).
public enum DashboardOriginRule {
    public static func allows(origin: String, host: String?, tokenValid: Bool) -> Bool {
        guard let host, !host.isEmpty, origin.lowercased() == "http://" + host.lowercased() else { return false }
        return tokenValid || isLoopback(host: host)
    }

    static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
            name = String(name[name.index(after: name.startIndex)..<close])
        } else if let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        let isLoopbackV4 = octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
        return name == "localhost" || name == "::1" || isLoopbackV4
    }
}
