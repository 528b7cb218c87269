/// SluiceEmbeddedBroker: what the demo, the benchmark, the fault-injection tools and the tests start
/// on this machine — an embedded Kafka-compatible broker on a free loopback port (or the broker named by
/// `KAFKA_BOOTSTRAP`), child processes that can be killed at any moment, and the seeded random numbers
/// that make a kill schedule replayable. It owns processes, never job logic: it depends on the Kafka
/// client layer (to create topics) and on nothing of the runtime or the connectors.
import Foundation
import Logging
import SluiceKafka
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Errors starting or using the embedded broker; each says what to do.
public enum EmbeddedBrokerError: Error, CustomStringConvertible {
    case binaryNotFound(searched: [String])
    case didNotStart(port: Int, output: String)
    case topicCreationFailed(topic: String, output: String)

    public var description: String {
        switch self {
        case .binaryNotFound(let searched):
            return "The embedded broker (tansu) was not found at \(searched.joined(separator: ", ")). "
                + "Run scripts/setup.sh, or set SLUICE_TANSU to its path, or KAFKA_BOOTSTRAP to an external broker."
        case .didNotStart(let port, let output):
            return "The embedded broker did not accept connections on 127.0.0.1:\(port). Its output:\n\(output)"
        case .topicCreationFailed(let topic, let output):
            return "Creating topic '\(topic)' failed: \(output)"
        }
    }
}

/// A Kafka bootstrap address the tests and the demo talk to: either an embedded Tansu broker this
/// process started (and stops), or an external broker named by `KAFKA_BOOTSTRAP`.
public final class EmbeddedBroker: Sendable {
    /// `host:port` for librdkafka's `bootstrap.servers`.
    public let bootstrap: String
    public let host: String
    public let port: Int
    /// Nil for an external broker.
    private let process: Process?
    private let tansuPath: String?

    /// Starts a fresh in-memory broker, unless `KAFKA_BOOTSTRAP` is set, in which case that broker is used.
    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment,
                             advertised: String? = nil) throws -> EmbeddedBroker {
        try start(environment: environment, storage: .memory, advertised: advertised)
    }

    /// Starts a broker on `storage` (a durable one outlives the broker process: see `DurableEmbeddedBroker`),
    /// on `port` when given (a restarted broker keeps its address), unless `KAFKA_BOOTSTRAP` names one.
    /// `advertised` (`host:port`) is the address clients are told in metadata, for a broker behind a TLS or
    /// SASL front; the embedded broker is then always started (an external one could not be re-advertised).
    static func start(environment: [String: String], storage: BrokerStorage, port fixedPort: Int? = nil,
                      advertised: String? = nil) throws -> EmbeddedBroker {
        if advertised == nil, let external = environment["KAFKA_BOOTSTRAP"], !external.isEmpty {
            let first = external.split(separator: ",").first.map(String.init) ?? external
            let parts = first.split(separator: ":")
            let host = parts.first.map(String.init) ?? "127.0.0.1"
            let port = parts.count > 1 ? Int(parts[1]) ?? 9092 : 9092
            return EmbeddedBroker(bootstrap: external, host: host, port: port, process: nil, tansuPath: nil)
        }
        let tansu = try locateTansu(environment: environment)
        var lastOutput = ""
        for _ in 0..<5 {
            let port = try fixedPort ?? freeLoopbackPort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tansu)
            process.arguments = [
                "broker",
                "--listener-url", "tcp://127.0.0.1:\(port)",
                "--advertised-listener-url", "tcp://\(advertised ?? "127.0.0.1:\(port)")",
                "--storage-engine", storage.engineURL,
                "--silent",
            ]
            if !storage.processEnvironment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(storage.processEnvironment) { $1 }
            }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            BrokerProcesses.register(process.processIdentifier)
            if waitUntilAccepting(port: port, timeout: 10) {
                // Drain the broker's output in the background so it never blocks on a full pipe.
                output.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
                return EmbeddedBroker(bootstrap: "127.0.0.1:\(port)", host: "127.0.0.1", port: port, process: process, tansuPath: tansu)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            lastOutput = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        throw EmbeddedBrokerError.didNotStart(port: 0, output: lastOutput)
    }

    private init(bootstrap: String, host: String, port: Int, process: Process?, tansuPath: String?) {
        self.bootstrap = bootstrap
        self.host = host
        self.port = port
        self.process = process
        self.tansuPath = tansuPath
    }

    /// True when this object started the broker (and will stop it).
    public var isEmbedded: Bool { process != nil }

    /// Creates a topic: with the embedded broker's own tool (independent of the client layer under
    /// test), or with the admin client on an external broker. `configs` are set explicitly, as the
    /// embedded broker only reports configs set at creation.
    public func createTopic(_ name: String, partitions: Int, configs: [String: String] = [:]) throws {
        guard let tansu = tansuPath else {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
            defer { admin.close() }
            do {
                try admin.createTopic(name, partitions: Int32(partitions), configs: configs)
            } catch {
                throw EmbeddedBrokerError.topicCreationFailed(topic: name, output: "\(error)")
            }
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tansu)
        var arguments = ["topic", "create", "--broker", "tcp://\(bootstrap)", "--partitions", String(partitions)]
        for (key, value) in configs.sorted(by: { $0.key < $1.key }) {
            arguments += ["--config", "\(key)=\(value)"]
        }
        arguments.append(name)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw EmbeddedBrokerError.topicCreationFailed(topic: name, output: text)
        }
    }

    /// Stops an embedded broker (all its data is lost: storage is memory only). No-op for an external one.
    public func stop() {
        guard let process, process.isRunning else { return }
        // Tansu ignores SIGTERM; its storage is memory only, so SIGKILL loses nothing more.
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        BrokerProcesses.unregister(process.processIdentifier)
    }

    /// Freezes the embedded broker (SIGSTOP): connections stay open but nothing answers, as when a
    /// broker hangs or the network drops packets. Its data is kept. No-op for an external broker.
    public func pause() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGSTOP)
    }

    /// Lets a paused broker run again (SIGCONT).
    public func resume() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
    }

    deinit { stop() }

    /// A unique name for a test's topic, so tests sharing a broker never see each other's data.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func locateTansu(environment: [String: String]) throws -> String {
        var candidates: [String] = []
        if let explicit = environment["SLUICE_TANSU"] { candidates.append(explicit) }
        if let root = environment["SLUICE_ROOT"] { candidates.append(root + "/.tools/tansu/bin/tansu") }
        // The package root, found from this source file: Sources/SluiceTestKit/EmbeddedBroker.swift.
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        candidates.append(packageRoot + "/.tools/tansu/bin/tansu")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw EmbeddedBrokerError.binaryNotFound(searched: candidates)
    }
}

/// Brokers this process started, killed when it exits: a broker kept in a static (shared by a
/// test suite) is never deinitialised, and a child process outlives its parent on Linux.
enum BrokerProcesses {
    private static let running = Mutex<Set<Int32>>([])
    private static let installed = Atomic<Bool>(false)

    static func register(_ pid: Int32) {
        running.withLock { _ = $0.insert(pid) }
        TrackedProcesses.record(pid)
        if installed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            atexit { BrokerProcesses.killAll() }
        }
    }

    static func unregister(_ pid: Int32) {
        running.withLock { _ = $0.remove(pid) }
        TrackedProcesses.forget(pid)
    }

    static func killAll() {
        for pid in running.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}

/// Asks the kernel for a free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw POSIXError(.EINVAL) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Polls until something accepts TCP connections on 127.0.0.1:port.
public func waitUntilAccepting(port: Int, timeout: TimeInterval) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if fd >= 0 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return true }
        }
        usleep(20_000)
    }
    return false
}
