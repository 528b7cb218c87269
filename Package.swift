// swift-tools-version:6.1
// Sluice: Kafka-to-Kafka stream pipelines with exactly-once results.
//
// Layout, from the bottom up:
//   CRdKafka, CKafkaCompression, CSQLite  C shims over Debian libraries (librdkafka; zlib, lz4, zstd, snappy; SQLite)
//   SluiceKafka                  the Kafka client layer over librdkafka
//   SluiceKafkaWire              the few wire-protocol pieces librdkafka lacks (EndTxn, a log reader)
//   SluiceRuntime                dataflow, state, checkpoints, time and windows, two-phase commit
//   SluiceKafkaConnector         the partition-aware Kafka source and the transactional Kafka sink
//   SluiceClickCount             the click-count playground's events, generator and job
//   SluiceOps                    a job's status and Prometheus metrics over HTTP
//   SluiceTestKit                embedded broker, child processes and exact-output checks
//   sluice, click-generator, click-count-job, sluice-fixture, sluice-bench   the executables
//   integration/                 the fault-injection suite (SluiceIntegrationTests)
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SluiceKafka", targets: ["SluiceKafka"]),
        .library(name: "SluiceKafkaWire", targets: ["SluiceKafkaWire"]),
        .library(name: "SluiceRuntime", targets: ["SluiceRuntime"]),
        .library(name: "SluiceKafkaConnector", targets: ["SluiceKafkaConnector"]),
        .library(name: "SluiceTestKit", targets: ["SluiceTestKit"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "click-generator", targets: ["click-generator"]),
        .executable(name: "click-count-job", targets: ["click-count-job"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C shims.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CKafkaCompression",
            providers: [.apt(["zlib1g-dev", "liblz4-dev", "libzstd-dev", "libsnappy-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // Kafka client layer.
        .target(
            name: "SluiceKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceKafkaTests", dependencies: ["SluiceKafka", "SluiceTestKit"], swiftSettings: strictSwift),

        // Wire-protocol pieces librdkafka does not offer.
        .target(
            name: "SluiceKafkaWire",
            dependencies: [
                "CKafkaCompression",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "SluiceKafkaWireTests",
            dependencies: ["SluiceKafkaWire", "SluiceKafka", "SluiceTestKit"],
            swiftSettings: strictSwift
        ),

        // Runtime.
        .target(
            name: "SluiceRuntime",
            dependencies: [
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Collections", package: "swift-collections"),
            ],
            exclude: ["README.md"],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceRuntimeTests", dependencies: ["SluiceRuntime"], swiftSettings: strictSwift),

        // Connectors.
        .target(
            name: "SluiceKafkaConnector",
            dependencies: [
                "SluiceRuntime", "SluiceKafka", "SluiceKafkaWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "SluiceKafkaConnectorTests",
            dependencies: ["SluiceKafkaConnector", "SluiceTestKit", "SluiceRuntime", "SluiceKafka", "SluiceKafkaWire"],
            swiftSettings: strictSwift
        ),

        // Operations: a job's status and Prometheus metrics over HTTP.
        .target(
            name: "SluiceOps",
            dependencies: [
                "SluiceRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceOpsTests", dependencies: ["SluiceOps", "SluiceRuntime"], swiftSettings: strictSwift),

        // The click-count playground.
        .target(
            name: "SluiceClickCount",
            dependencies: ["SluiceRuntime", "SluiceKafkaConnector", "SluiceKafka"],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceClickCountTests", dependencies: ["SluiceClickCount"], swiftSettings: strictSwift),

        // Test and fault-injection kit: embedded broker, child processes, exact-output checks.
        .target(
            name: "SluiceTestKit",
            dependencies: [
                "SluiceKafka", "SluiceKafkaWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),

        // The fault-injection suite: end-to-end scenarios against the embedded broker, with jobs
        // killed by SIGKILL, stopped with savepoints, rescaled and backpressured (in `integration/`).
        .testTarget(
            name: "SluiceIntegrationTests",
            dependencies: ["SluiceTestKit", "SluiceKafka", "SluiceKafkaWire", "SluiceClickCount", "SluiceOps"],
            path: "integration",
            swiftSettings: strictSwift
        ),

        // Executables.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceKafka", "SluiceKafkaWire", "SluiceTestKit", "SluiceClickCount", "SluiceOps", "SluiceRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "click-generator",
            dependencies: [
                "SluiceClickCount", "SluiceKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "click-count-job",
            dependencies: [
                "SluiceClickCount", "SluiceRuntime", "SluiceKafka", "SluiceKafkaConnector", "SluiceOps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // The benchmark command: raw librdkafka vs Sluice pass-through, click-count vs Quix Streams.
        .executableTarget(
            name: "sluice-bench",
            dependencies: [
                "SluiceKafka", "SluiceKafkaWire", "SluiceTestKit", "SluiceRuntime", "SluiceKafkaConnector", "SluiceClickCount",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Small programs the integration tests run as child processes and kill.
        .executableTarget(
            name: "sluice-fixture",
            dependencies: [
                "SluiceKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
    ]
)
