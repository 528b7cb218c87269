import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Where the embedded broker keeps its log.
enum BrokerStorage: Sendable {
    /// In the broker's memory: fastest, and gone with the process.
    case memory
    /// In a bucket of an S3-compatible server on loopback: topics, records and committed offsets
    /// survive a SIGKILL of the broker.
    case s3(endpoint: String, bucket: String)

    var engineURL: String {
        switch self {
        case .memory: return "memory://tansu/"
        case .s3(_, let bucket): return "s3://\(bucket)/"
        }
    }

    var processEnvironment: [String: String] {
        switch self {
        case .memory:
            return [:]
        case .s3(let endpoint, _):
            // A local test server: the credentials are placeholders it accepts, nothing secret.
            return [
                "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "eu-west-2",
            ]
        }
    }
}

/// An embedded broker whose data outlives its process, for faults a memory-only broker cannot show:
/// the broker is killed (SIGKILL) and comes back on the same address with its topics, records,
/// transactions' markers and committed offsets. Its storage is a bucket of a local S3-compatible
/// server (moto, installed by `scripts/setup.sh` into `.tools/s3-venv`), started and stopped with it.
public final class DurableEmbeddedBroker: Sendable {
    /// `host:port`, the same across restarts.
    public let bootstrap: String
    public let port: Int
    private let storage: BrokerStorage
    private let environment: [String: String]
    private let s3Server: ChildProcess
    private let current: Mutex<EmbeddedBroker?>

    /// Starts the S3-compatible server, creates a bucket and starts the broker on it.
    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DurableEmbeddedBroker {
        let s3Port = try freeLoopbackPort()
        let server = try ChildProcess(
            executable: try locateS3Server(environment: environment),
            arguments: ["-H", "127.0.0.1", "-p", String(s3Port)])
        guard waitUntilAccepting(port: s3Port, timeout: 20) else {
            server.kill()
            throw EmbeddedBrokerError.didNotStart(port: s3Port, output: server.outputLines.suffix(20).joined(separator: "\n"))
        }
        let endpoint = "http://127.0.0.1:\(s3Port)"
        let bucket = "sluice-broker"
        try createBucket(bucket, endpoint: endpoint)
        let storage = BrokerStorage.s3(endpoint: endpoint, bucket: bucket)
        var brokerEnvironment = environment
        brokerEnvironment["KAFKA_BOOTSTRAP"] = nil
        let broker = try EmbeddedBroker.start(environment: brokerEnvironment, storage: storage)
        return DurableEmbeddedBroker(broker: broker, storage: storage, environment: brokerEnvironment, s3Server: server)
    }

    private init(broker: EmbeddedBroker, storage: BrokerStorage, environment: [String: String], s3Server: ChildProcess) {
        self.bootstrap = broker.bootstrap
        self.port = broker.port
        self.storage = storage
        self.environment = environment
        self.s3Server = s3Server
        self.current = Mutex(broker)
    }

    /// The running broker (for topic creation and pauses).
    public var broker: EmbeddedBroker? { current.withLock { $0 } }

    /// Kills the broker with SIGKILL, as a machine failure would; its storage stays.
    public func kill() {
        let broker = current.withLock { broker in
            defer { broker = nil }
            return broker
        }
        broker?.stop()
    }

    /// Starts the broker again on the same address and storage (after `kill()`).
    public func restart() throws {
        kill()
        let broker = try EmbeddedBroker.start(environment: environment, storage: storage, port: port)
        current.withLock { $0 = broker }
    }

    public func createTopic(_ name: String, partitions: Int, configs: [String: String] = [:]) throws {
        guard let broker else { throw EmbeddedBrokerError.didNotStart(port: port, output: "the broker is down") }
        try broker.createTopic(name, partitions: partitions, configs: configs)
    }

    /// Stops the broker and the storage server; the data is gone.
    public func stop() {
        kill()
        s3Server.kill()
    }

    deinit { stop() }

    static func locateS3Server(environment: [String: String]) throws -> String {
        var candidates: [String] = []
        if let explicit = environment["SLUICE_S3_SERVER"] { candidates.append(explicit) }
        if let root = environment["SLUICE_ROOT"] { candidates.append(root + "/.tools/s3-venv/bin/moto_server") }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        candidates.append(packageRoot + "/.tools/s3-venv/bin/moto_server")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw EmbeddedBrokerError.binaryNotFound(searched: candidates)
    }

    /// S3's CreateBucket is a plain `PUT /<bucket>`; the local server needs no signature.
    static func createBucket(_ bucket: String, endpoint: String) throws {
        guard let url = URL(string: "\(endpoint)/\(bucket)") else {
            throw EmbeddedBrokerError.didNotStart(port: 0, output: "bad S3 endpoint \(endpoint)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "PUT"
        request.timeoutInterval = 10
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { _, response, error in
            outcome.withLock {
                $0 = error.map { .failure($0) } ?? .success((response as? HTTPURLResponse)?.statusCode ?? 0)
            }
            done.signal()
        }.resume()
        done.wait()
        let status = try outcome.withLock { $0 }?.get() ?? 0
        guard (200..<300).contains(status) else {
            throw EmbeddedBrokerError.didNotStart(port: 0, output: "creating the bucket \(bucket) at \(endpoint) answered HTTP \(status)")
        }
    }
}

extension DurableEmbeddedBroker {
    /// The keys of the storage objects whose key starts with `prefix` (S3 ListObjectsV2), for tests
    /// that damage the broker's log the way lost storage would, e.g.
    /// `clusters/<cluster>/topics/<topic>/partitions/<n>/records/`.
    public func storageObjects(containing fragment: String) throws -> [String] {
        guard case .s3(let endpoint, let bucket) = storage else { return [] }
        let body = try Self.s3Request("GET", "\(endpoint)/\(bucket)?list-type=2&max-keys=1000")
        // <Key>...</Key> elements; keys hold no markup characters.
        return body.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first }
            .filter { $0.contains(fragment) }.sorted()
    }

    /// Deletes one storage object (S3 DeleteObject).
    public func deleteStorageObject(_ key: String) throws {
        guard case .s3(let endpoint, let bucket) = storage else { return }
        _ = try Self.s3Request("DELETE", "\(endpoint)/\(bucket)/\(key)")
    }

    private static func s3Request(_ method: String, _ address: String) throws -> String {
        guard let url = URL(string: address) else { throw EmbeddedBrokerError.didNotStart(port: 0, output: "bad S3 address \(address)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 10
        // The local server refuses a DeleteObject without an AWS signature header; it does not check it.
        request.setValue("AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-2/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
                         forHTTPHeaderField: "Authorization")
        request.setValue("20260101T000000Z", forHTTPHeaderField: "x-amz-date")
        let outcome = Mutex<Result<(Int, String), any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.withLock {
                $0 = error.map { .failure($0) }
                    ?? .success(((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data ?? Data(), as: UTF8.self)))
            }
            done.signal()
        }.resume()
        done.wait()
        let (status, body) = try outcome.withLock { $0 }?.get() ?? (0, "")
        guard (200..<300).contains(status) else {
            throw EmbeddedBrokerError.didNotStart(port: 0, output: "\(method) \(address) answered HTTP \(status): \(body.prefix(200))")
        }
        return body
    }
}
