// swift-tools-version:6.1
// An example Sluice job in a package of its own, depending on Sluice by path as a user's would.
import PackageDescription

let package = Package(
    name: "order-payment-join",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Sluice", path: "../..")],
    targets: [
        .executableTarget(name: "order-payment-join", dependencies: [.product(name: "SluiceApp", package: "Sluice")]),
    ]
)
