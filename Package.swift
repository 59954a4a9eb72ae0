// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-bench", targets: ["vigil-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        // C libraries, each wrapped once (STYLE.md practice 2).
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSLCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite3",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // The only importer of the C crypto modules.
        .target(
            name: "VigilCrypto",
            dependencies: ["CSodium", "COpenSSLCrypto"],
            swiftSettings: swiftSettings
        ),
        // Audit entries, Merkle tree, checkpoints, proofs, verifier: no storage, no HTTP.
        .target(
            name: "VigilAudit",
            dependencies: ["VigilCrypto"],
            swiftSettings: swiftSettings
        ),
        // The domain: no HTTP, no SQL.
        .target(
            name: "VigilCore",
            dependencies: [
                "VigilCrypto",
                "VigilAudit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // The only importer of CSQLite3.
        .target(
            name: "VigilStore",
            dependencies: ["VigilCore", "VigilCrypto", "VigilAudit", "CSQLite3"],
            swiftSettings: swiftSettings
        ),
        // The only importer of Hummingbird.
        .target(
            name: "VigilHTTP",
            dependencies: [
                "VigilCore",
                "VigilCrypto",
                "VigilAudit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Outbox channels (file, webhook): the only importer of AsyncHTTPClient.
        .target(
            name: "VigilDelivery",
            dependencies: [
                "VigilCore",
                "VigilCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // The composition root.
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilCore",
                "VigilCrypto",
                "VigilAudit",
                "VigilStore",
                "VigilHTTP",
                "VigilDelivery",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Non-HTTP benchmarks (`swift run -c release vigil-bench audit`); see docs/benchmarks.md.
        .executableTarget(
            name: "vigil-bench",
            dependencies: ["VigilAudit", "VigilCore", "VigilCrypto", "VigilStore"],
            path: "Sources/VigilBench",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilTestSupport",
            dependencies: ["VigilCore", "VigilCrypto", "VigilAudit"],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "VigilCryptoTests",
            dependencies: ["VigilCrypto"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilAuditTests",
            dependencies: ["VigilAudit", "VigilCrypto"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: ["VigilCore", "VigilCrypto", "VigilTestSupport"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilStoreTests",
            dependencies: ["VigilStore", "VigilCore", "VigilCrypto", "VigilTestSupport", "CSQLite3"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilHTTPTests",
            dependencies: [
                "VigilHTTP", "VigilCore", "VigilStore", "VigilCrypto", "VigilAudit", "VigilTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VigilDeliveryTests",
            dependencies: ["VigilDelivery", "VigilCore", "VigilStore", "VigilCrypto", "VigilTestSupport"],
            resources: [.copy("Receiver"), .copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchitectureTests",
            swiftSettings: swiftSettings
        ),
        // Runs the built `vigil` executable as a process (`swift build --build-tests` builds it).
        .testTarget(
            name: "VigilCLITests",
            swiftSettings: swiftSettings
        ),
    ]
)
