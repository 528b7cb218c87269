// swift-tools-version:6.1
// Sluice: Kafka-to-Kafka stream pipelines with exactly-once results.
//
// Layout, from the bottom up:
//   CRdKafka, CKafkaCompression, CSQLite  C shims over Debian libraries (librdkafka; zlib, lz4, zstd, snappy; SQLite)
//   SluiceKafkaCore              the shared Kafka values (topic-partition, offsets, producer identity, committable)
//   SluiceKafka                  the Kafka client layer over librdkafka
//   SluiceKafkaWire              the few wire-protocol pieces librdkafka lacks (EndTxn, a log reader)
//   SluiceRuntime                dataflow, state, checkpoints, time and windows, two-phase commit
//   SluiceKafkaConnector         the partition-aware Kafka source and the transactional Kafka sink
//   SluiceClickCount             the click-count playground's events, generator and job
//   SluiceOps                    a job's status and Prometheus metrics over HTTP
//   SluiceApp                    the application layer: a job author writes only the job (see Examples/)
//   SluiceEmbeddedBroker         the embedded broker launcher and child processes (demo, bench, CLI, tests)
//   SluiceTestKit                what only tests need (built-product lookup), re-exporting the above
//   sluice, click-generator, click-count-job, pass-through-job, sluice-fixture, sluice-bench   the executables
//   integration/                 the fault-injection suite (SluiceIntegrationTests)
import PackageDescription

/// Every target: existentials spelled `any`, and each file imports what it uses.
let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
let kafkaModuleSwift: [SwiftSetting] = strictSwift

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SluiceKafka", targets: ["SluiceKafka"]),
        .library(name: "SluiceKafkaWire", targets: ["SluiceKafkaWire"]),
        .library(name: "SluiceRuntime", targets: ["SluiceRuntime"]),
        .library(name: "SluiceKafkaConnector", targets: ["SluiceKafkaConnector"]),
        .library(name: "SluiceEmbeddedBroker", targets: ["SluiceEmbeddedBroker"]),
        .library(name: "SluiceApp", targets: ["SluiceApp"]),
        .library(name: "SluiceTestKit", targets: ["SluiceTestKit"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "click-generator", targets: ["click-generator"]),
        .executable(name: "click-count-job", targets: ["click-count-job"]),
        .executable(name: "pass-through-job", targets: ["pass-through-job"]),
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

        // The shared Kafka vocabulary (topic-partition, offsets, producer identity, committable).
        .target(name: "SluiceKafkaCore", swiftSettings: kafkaModuleSwift),
        .testTarget(name: "SluiceKafkaCoreTests", dependencies: ["SluiceKafkaCore"], swiftSettings: strictSwift),

        // Kafka client layer.
        .target(
            name: "SluiceKafka",
            dependencies: [
                "SluiceKafkaCore", "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kafkaModuleSwift
        ),
        .testTarget(name: "SluiceKafkaTests", dependencies: ["SluiceKafka", "SluiceTestKit"], swiftSettings: strictSwift),

        // Wire-protocol pieces librdkafka does not offer.
        .target(
            name: "SluiceKafkaWire",
            dependencies: [
                "SluiceKafkaCore", "CKafkaCompression",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: kafkaModuleSwift
        ),
        .testTarget(
            name: "SluiceKafkaWireTests",
            dependencies: ["SluiceKafkaWire", "SluiceKafka", "SluiceTestKit"],
            exclude: ["Fixtures"],
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
        .testTarget(
            name: "SluiceRuntimeTests", dependencies: ["SluiceRuntime", "SluiceTestKit"],
            swiftSettings: strictSwift),

        // Connectors.
        .target(
            name: "SluiceKafkaConnector",
            dependencies: [
                "SluiceRuntime", "SluiceKafka", "SluiceKafkaWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: kafkaModuleSwift
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
            // Compiled into the binary (no bundle to ship next to it): the status server's web page.
            resources: [.embedInCode("Resources/dashboard.html")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "SluiceOpsTests",
            dependencies: [
                "SluiceOps", "SluiceRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSwift),

        // The click-count playground.
        .target(
            name: "SluiceClickCount",
            dependencies: ["SluiceRuntime", "SluiceKafkaConnector", "SluiceKafka"],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceClickCountTests", dependencies: ["SluiceClickCount"], swiftSettings: strictSwift),

        // The application layer for job authors: the standard command line, life cycle, signals,
        // status server and bootstraps around a job's `build` (Examples/ are packages using it).
        .target(
            name: "SluiceApp",
            dependencies: [
                "SluiceRuntime", "SluiceKafkaConnector", "SluiceKafka", "SluiceKafkaWire", "SluiceOps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(name: "SluiceAppTests", dependencies: ["SluiceApp"], swiftSettings: strictSwift),

        // The embedded broker launcher and child processes: the demo, the bench, `sluice inject` and tests.
        .target(
            name: "SluiceEmbeddedBroker",
            dependencies: [
                "SluiceKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // What only tests need; executables must not link it.
        .target(
            name: "SluiceTestKit",
            dependencies: ["SluiceEmbeddedBroker", "SluiceKafka", "SluiceKafkaWire"],
            swiftSettings: strictSwift
        ),

        // The fault-injection suite: end-to-end scenarios against the embedded broker, with jobs
        // killed by SIGKILL, stopped with savepoints, rescaled and backpressured (in `integration/`).
        .testTarget(
            name: "SluiceIntegrationTests",
            dependencies: ["SluiceTestKit", "SluiceKafka", "SluiceKafkaWire", "SluiceKafkaConnector", "SluiceClickCount", "SluiceOps", "SluiceRuntime"],
            path: "integration",
            exclude: ["browser"],  // the Selenium script DashboardBrowserTests runs
            swiftSettings: strictSwift
        ),

        // Executables.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceKafka", "SluiceKafkaWire", "SluiceEmbeddedBroker", "SluiceClickCount", "SluiceOps", "SluiceRuntime", "SluiceApp",
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
            dependencies: ["SluiceApp", "SluiceClickCount"],
            swiftSettings: strictSwift
        ),
        // A stateless SluiceApp job copying a topic: the worker-process tests and deploy/kubernetes run it.
        .executableTarget(
            name: "pass-through-job",
            dependencies: ["SluiceApp"],
            swiftSettings: strictSwift
        ),
        // The benchmark command: raw librdkafka vs Sluice pass-through, click-count vs Quix Streams.
        .executableTarget(
            name: "sluice-bench",
            dependencies: [
                "SluiceKafka", "SluiceKafkaWire", "SluiceEmbeddedBroker", "SluiceRuntime", "SluiceKafkaConnector", "SluiceClickCount",
                "SluiceApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Millions of mutated broker responses through the wire decoders (the suite runs thousands).
        .executableTarget(
            name: "sluice-fuzz-wire",
            dependencies: [
                "SluiceTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        // Small programs the integration tests run as child processes and kill.
        .executableTarget(
            name: "sluice-fixture",
            dependencies: [
                "SluiceKafka", "SluiceRuntime", "SluiceKafkaConnector",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
    ]
)
