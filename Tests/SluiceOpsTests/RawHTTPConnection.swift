import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bare TCP connection to the status server on loopback, for requests no polite client sends:
/// trickled bytes, oversized headers, connections held open and idle.
final class RawHTTPConnection {
    private let descriptor: Int32

    init?(port: Int, receiveTimeoutMillis: Int = 5000) {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var timeout = timeval(tv_sec: receiveTimeoutMillis / 1000, tv_usec: (receiveTimeoutMillis % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
    }

    deinit { close(descriptor) }

    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Everything until the peer closes or the receive timeout passes.
    func readUntilClosed() -> (text: String, closedByPeer: Bool) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[0..<count]
            } else {
                // 0: closed by the peer; -1 with ECONNRESET also; -1 with EAGAIN: timed out, still open.
                let closed = count == 0 || errno == ECONNRESET
                return (String(decoding: received, as: UTF8.self), closed)
            }
        }
    }

    /// The status code of the first answer on this connection, or nil when it closed without one.
    func statusCode() -> Int? {
        let text = readUntilClosed().text
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst("HTTP/1.1 ".count).prefix(3))
    }
}
