import Foundation
import Testing

@testable import VigilCore

/// The expected values here come from ISO/IEC 18004 (its tables) or from independent
/// implementations (zbarimg as decoder; Project Nayuki's reference generator for the fixed
/// symbols and mask choices), never from the encoder under test.
@Suite("QR code")
struct QRCodeTests {
    typealias Level = QRCode.ErrorCorrection

    // MARK: - The standard's tables

    /// ISO/IEC 18004 Table 7, byte mode: bytes per version (row 0 = version 1) at L, M, Q, H.
    static let byteCapacity: [[Int]] = [
        [17, 14, 11, 7], [32, 26, 20, 14], [53, 42, 32, 24], [78, 62, 46, 34], [106, 84, 60, 44],
        [134, 106, 74, 58], [154, 122, 86, 64], [192, 152, 108, 84], [230, 180, 130, 98], [271, 213, 151, 119],
        [321, 251, 177, 137], [367, 287, 203, 155], [425, 331, 241, 177], [458, 362, 258, 194], [520, 412, 292, 220],
        [586, 450, 322, 250], [644, 504, 364, 280], [718, 560, 394, 310], [792, 624, 442, 338], [858, 666, 482, 382],
        [929, 711, 509, 403], [1003, 779, 565, 439], [1091, 857, 611, 461], [1171, 911, 661, 511], [1273, 997, 715, 535],
        [1367, 1059, 751, 593], [1465, 1125, 805, 625], [1528, 1190, 868, 658], [1628, 1264, 908, 698], [1732, 1370, 982, 742],
        [1840, 1452, 1030, 790], [1952, 1538, 1112, 842], [2068, 1628, 1168, 898], [2188, 1722, 1228, 958], [2303, 1809, 1283, 983],
        [2431, 1911, 1351, 1051], [2563, 1989, 1423, 1093], [2699, 2099, 1499, 1139], [2809, 2213, 1579, 1219], [2953, 2331, 1663, 1273],
    ]

    static func capacity(_ version: Int, _ level: Level) -> Int {
        byteCapacity[version - 1][Level.allCases.firstIndex(of: level)!]
    }

    /// ISO/IEC 18004 Table C.1: the 15 format bits (after XOR 0x5412) for masks 0…7, most significant bit first.
    static let formatInformation: [Level: [String]] = [
        .low: [
            "111011111000100", "111001011110011", "111110110101010", "111100010011101",
            "110011000101111", "110001100011000", "110110001000001", "110100101110110",
        ],
        .medium: [
            "101010000010010", "101000100100101", "101111001111100", "101101101001011",
            "100010111111001", "100000011001110", "100111110010111", "100101010100000",
        ],
        .quartile: [
            "011010101011111", "011000001101000", "011111100110001", "011101000000110",
            "010010010110100", "010000110000011", "010111011011010", "010101111101101",
        ],
        .high: [
            "001011010001001", "001001110111110", "001110011100111", "001100111010000",
            "000011101100010", "000001001010101", "000110100001100", "000100000111011",
        ],
    ]

    /// ISO/IEC 18004 Table D.1: the 18 version bits, versions 7…40.
    static let versionInformation: [Int] = [
        0x07C94, 0x085BC, 0x09A99, 0x0A4D3, 0x0BBF6, 0x0C762, 0x0D847, 0x0E60D, 0x0F928, 0x10B78, 0x1145D, 0x12A17,
        0x13532, 0x149A6, 0x15683, 0x168C9, 0x177EC, 0x18EC4, 0x191E1, 0x1AFAB, 0x1B08E, 0x1CC1A, 0x1D33F, 0x1ED75,
        0x1F250, 0x209D5, 0x216F0, 0x228BA, 0x2379F, 0x24B0B, 0x2542E, 0x26A64, 0x27541, 0x28C69,
    ]

    /// ISO/IEC 18004 Table E.1: alignment pattern centres for some versions.
    static let alignmentCentres: [Int: [Int]] = [
        1: [], 2: [6, 18], 5: [6, 30], 6: [6, 34], 7: [6, 22, 38], 10: [6, 28, 50], 15: [6, 26, 48, 70],
        25: [6, 32, 58, 84, 110], 32: [6, 34, 60, 86, 112, 138], 36: [6, 24, 50, 76, 102, 128, 154],
        40: [6, 30, 58, 86, 114, 142, 170],
    ]

    /// Deterministic printable ASCII of `count` bytes (URI-ish alphabet), different per seed.
    static func text(_ count: Int, seed: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&'()*+,;=% ")
        var state = UInt64(truncatingIfNeeded: seed) &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return String(
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return alphabet[Int(state >> 33) % alphabet.count]
            }
        )
    }

    // MARK: - Structure

    @Test("the version chosen for each length matches the capacity table, at every level")
    func versionSelection() throws {
        for level in Level.allCases {
            for version in 1...40 {
                let fits = Self.capacity(version, level)
                #expect(QRCode.smallestVersion(byteCount: fits, correction: level) == version, "\(fits) bytes at \(level)")
                #expect(QRCode.smallestVersion(byteCount: fits + 1, correction: level) == (version < 40 ? version + 1 : nil))
            }
        }
        // Through the public API, at the boundaries the brief names and a few more.
        let cases: [(bytes: Int, level: Level, version: Int)] = [
            (17, .low, 1), (18, .low, 2), (14, .medium, 1), (15, .medium, 2), (11, .quartile, 1), (7, .high, 1), (8, .high, 2),
            (0, .high, 1), (154, .low, 7), (155, .low, 8), (84, .medium, 5), (213, .medium, 10), (214, .medium, 11),
            (292, .quartile, 15), (535, .high, 25), (1273, .high, 40),
        ]
        for (count, level, version) in cases {
            let code = try QRCode.encode(Array(repeating: 0x41, count: count), correction: level)
            #expect(code.version == version, "\(count) bytes at \(level)")
            #expect(code.size == 17 + 4 * version)
        }
    }

    @Test("input longer than version 40 holds at the level throws")
    func tooLong() throws {
        for level in Level.allCases {
            let limit = Self.capacity(40, level)
            #expect(throws: QRCode.EncodingError.dataTooLong(byteCount: limit + 1, capacity: limit)) {
                try QRCode.encode(Array(repeating: 0x30, count: limit + 1), correction: level)
            }
        }
        #expect(throws: QRCode.EncodingError.self) { try QRCode.encode(Array(repeating: 0, count: 10_000)) }
    }

    @Test(
        "finders, separators, timing patterns, dark module and alignment patterns are where the standard puts them",
        arguments: [1, 2, 5, 6, 7, 10, 15, 25, 32, 36, 40]
    )
    func functionPatterns(version: Int) throws {
        let code = try QRCode.encode(Array(repeating: 0x61, count: Self.capacity(version, .high)), correction: .high)
        try #require(code.version == version)
        let size = code.size
        #expect(size == 17 + 4 * version)
        // Finder (7×7: ring of dark, ring of light, dark 3×3) and its light separator, at three corners only.
        for (left, top) in [(0, 0), (size - 7, 0), (0, size - 7)] {
            for dy in -1...7 {
                for dx in -1...7 {
                    let (x, y) = (left + dx, top + dy)
                    guard (0..<size).contains(x), (0..<size).contains(y) else { continue }
                    let ring = max(abs(dx - 3), abs(dy - 3))  // 0 at the centre … 3 at the edge, 4 the separator
                    #expect(code.module(x: x, y: y) == (ring != 2 && ring != 4), "finder at (\(left), \(top)), module (\(x), \(y))")
                }
            }
        }
        let bottomRight = (size - 7..<size).flatMap { y in (size - 7..<size).map { code.module(x: $0, y: y) } }
        #expect(bottomRight.contains(false) && bottomRight.contains(true), "no finder at the bottom-right")
        for index in 8..<(size - 8) {
            #expect(code.module(x: index, y: 6) == (index % 2 == 0), "horizontal timing at \(index)")
            #expect(code.module(x: 6, y: index) == (index % 2 == 0), "vertical timing at \(index)")
        }
        #expect(code.module(x: 8, y: 4 * version + 9), "the dark module")
        let centres = try #require(Self.alignmentCentres[version])
        for cy in centres {
            for cx in centres where !(cx < 10 && cy < 10) && !(cx < 10 && cy > size - 10) && !(cx > size - 10 && cy < 10) {
                for dy in -2...2 {
                    for dx in -2...2 {
                        #expect(code.module(x: cx + dx, y: cy + dy) == (max(abs(dx), abs(dy)) != 1), "alignment at (\(cx), \(cy))")
                    }
                }
            }
        }
        #expect(!code.module(x: -1, y: 0) && !code.module(x: size, y: size - 1), "outside the symbol is light")
    }

    @Test("format bits equal the standard's table for every level and mask, in both copies in the symbol")
    func formatBits() throws {
        for level in Level.allCases {
            for mask in 0..<8 {
                let expected = Self.formatInformation[level]![mask]
                #expect(String(QRCode.formatBits(correction: level, mask: mask), radix: 2).leftPadded(to: 15) == expected, "\(level) \(mask)")
                let code = try QRCode.encode(Array("format \(mask)".utf8), correction: level, mask: mask)
                // Bit 14 (most significant) first. Copy 1 around the top-left finder; copy 2 split
                // between the bottom-left (bits 14…8, upward) and the top-right (bits 7…0).
                let size = code.size
                let first: [(Int, Int)] = (0...5).map { ($0, 8) } + [(7, 8), (8, 8), (8, 7)] + (0...5).reversed().map { (8, $0) }
                let second: [(Int, Int)] = (0..<7).map { (8, size - 1 - $0) } + (0..<8).map { (size - 8 + $0, 8) }
                for copy in [first, second] {
                    #expect(String(copy.map { code.module(x: $0.0, y: $0.1) ? "1" : "0" }) == expected, "\(level) mask \(mask)")
                }
            }
        }
        #expect(Self.formatInformation[.medium]![0] == "101010000010010")
    }

    @Test("version bits equal the standard's table, in both 6×3 blocks", arguments: [7, 8, 10, 15, 25, 40])
    func versionBits(version: Int) throws {
        let expected = Self.versionInformation[version - 7]
        #expect(QRCode.versionBits(version: version) == expected)
        let code = try QRCode.encode(Array(repeating: 0x2F, count: Self.capacity(version, .quartile)), correction: .quartile)
        try #require(code.version == version)
        var topRight = 0
        var bottomLeft = 0
        for bit in (0..<18).reversed() {
            let (a, b) = (code.size - 11 + bit % 3, bit / 3)
            topRight = topRight << 1 | (code.module(x: a, y: b) ? 1 : 0)
            bottomLeft = bottomLeft << 1 | (code.module(x: b, y: a) ? 1 : 0)
        }
        #expect(topRight == expected)
        #expect(bottomLeft == expected)
    }

    @Test("alignment pattern positions equal the standard's table")
    func alignmentPositions() {
        for (version, centres) in Self.alignmentCentres {
            #expect(QRCode.alignmentPositions(version: version) == centres, "version \(version)")
        }
    }

    // MARK: - Known answers from an independent encoder

    /// Both symbols were produced by Project Nayuki's reference generator (Python `qrcodegen` 1.8,
    /// byte mode, no level boosting, automatic mask): data, ECC, placement and mask choice.
    @Test("a version 1-M symbol equals the reference encoder's, module for module (mask 2)")
    func knownSymbolVersion1() throws {
        let expected = [
            "#######..#.##.#######", "#.....#.......#.....#", "#.###.#.#..##.#.###.#", "#.###.#.##.##.#.###.#",
            "#.###.#.#...#.#.###.#", "#.....#.##..#.#.....#", "#######.#.#.#.#######", "........#####........",
            "#.#####..##...#####..", ".......##..#.#.##...#", "..##.###..####...###.", "..#.#...#....#.####.#",
            ".####.#.###.#.##...#.", "........#.##....####.", "#######....####..#.#.", "#.....#.#.####.#.##.#",
            "#.###.#.##.##.##...##", "#.###.#.#....####....", "#.###.#.##.#####.##..", "#.....#..##..#.#.##..",
            "#######.#..####.#..#.",
        ]
        let code = try QRCode.encode(Array("Vigil recovery".utf8), correction: .medium)
        #expect(code.version == 1)
        #expect(code.mask == 2)
        let rows = (0..<code.size).map { y in String((0..<code.size).map { code.module(x: $0, y: y) ? "#" : "." }) }
        #expect(rows == expected)
    }

    @Test("a version 7-Q symbol (six blocks of two lengths, version bits) equals the reference encoder's (mask 2)")
    func knownSymbolVersion7() throws {
        // Each row's 45 modules, most significant bit first, padded to 48 bits.
        let expected: [UInt64] = [
            0xfed8_36c3_8bf8, 0x821e_9cb9_9208, 0xba15_2295_d2e8, 0xba4a_59c4_1ae8, 0xbabb_4f97_7ae8, 0x82b6_18d1_8208,
            0xfeaa_aaaa_abf8, 0x004c_388d_d800, 0x7f5a_0fa5_2188, 0xfd55_99cf_1d68, 0xc394_0235_2330, 0xf872_eeab_73b0,
            0x2258_6ee3_0440, 0xa8f9_d286_1d28, 0x7fce_b663_7b20, 0xe43b_68cb_87e0, 0x1667_c760_5160, 0xfde5_98cb_1d48,
            0xe25d_20ad_fb30, 0x3d7f_37f2_b938, 0xef9f_2fad_4f80, 0x3887_d8fa_d8c8, 0x8a9a_8a8c_3ad0, 0x88b5_f8dc_c8f0,
            0x5fea_5fc4_2fc8, 0xf1e5_759e_9a50, 0xe3c0_2d64_e5d0, 0x1932_ef63_f5f8, 0x2aa2_c460_05e0, 0x688e_bcb6_4a58,
            0x665d_f31b_3570, 0xcc53_663a_c370, 0xc6a6_3f45_25d0, 0x5134_2907_1c48, 0x0aea_f761_2df0, 0x7841_781e_3e60,
            0x9afa_cf87_2fa8, 0x00a6_18f7_9898, 0xfe96_8af2_6ab0, 0x829f_88dc_f8e0, 0xbaa1_efc7_4ff0, 0xbada_0937_c0f0,
            0xbae4_5607_bc10, 0x82a5_4c72_f560, 0xfe0e_6013_7e50,
        ]
        let uri = "otpauth://totp/Vigil:bob@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Vigil&period=30"
        let code = try QRCode.encode(Array(uri.utf8), correction: .quartile)
        #expect(code.version == 7)
        #expect(code.mask == 2)
        try #require(code.size == expected.count)
        for (y, want) in expected.enumerated() {
            let row = (0..<code.size).reduce(UInt64(0)) { $0 << 1 | (code.module(x: $1, y: y) ? 1 : 0) } << UInt64(48 - code.size)
            #expect(row == want, "row \(y): \(String(row, radix: 16)), expected \(String(want, radix: 16))")
        }
    }

    /// The reference encoder's mask choice (Python `qrcodegen` 1.8, no level boosting). Between them these
    /// inputs make the choice depend on each of the four penalty rules.
    static let maskChoices: [(bytes: [UInt8], level: Level, version: Int, mask: Int)] = [
        (Array("otpauth://totp/Vigil:u22?secret=YFEpPx6&n1nf2xv5_4WCA-7e56W8zN".utf8), .low, 4, 7),
        ([0x00, 0x84, 0x94], .medium, 1, 3),
        ([0x6B, 0x2E, 0x00, 0x00, 0x00, 0x00, 0x00, 0xA9], .medium, 1, 2),
        (Array("Vigil".utf8), .high, 1, 6),
        (Array("otpauth://totp/Vigil:alice@example.com?secret=JBSWY3DPEHPK3PXP".utf8), .quartile, 6, 0),
        (Array(otpauth125.utf8), .medium, 8, 4),
        (Array(otpauth125.utf8), .high, 11, 3),
        (Array(0...255), .low, 10, 4),
        (Array(0...255) + Array(0...255), .quartile, 22, 6),
    ]

    @Test("the mask chosen by penalty score equals the reference encoder's")
    func maskChoice() throws {
        for (bytes, level, version, mask) in Self.maskChoices {
            let code = try QRCode.encode(bytes, correction: level)
            #expect(code.version == version && code.mask == mask, "\(bytes.count) bytes at \(level): version \(code.version) mask \(code.mask)")
        }
    }

    // MARK: - SVG

    @Test("the SVG has a quiet zone, crisp edges, one path covering exactly the dark modules")
    func svgShape() throws {
        let code = try QRCode.encode(Array("otpauth://totp/Vigil:a?secret=JBSWY3DP".utf8))
        let svg = code.svg(pixelsPerModule: 5)
        let side = code.size + 8
        #expect(svg.contains("viewBox=\"0 0 \(side) \(side)\""))
        #expect(svg.contains("width=\"\(side * 5)\" height=\"\(side * 5)\""))
        #expect(svg.contains("shape-rendering=\"crispEdges\""))
        #expect(svg.components(separatedBy: "<path").count == 2)
        // Each subpath is "M x,y h n v1 h-n z": the covered cells must be exactly the dark modules, offset by 4.
        let path = try #require(svg.components(separatedBy: "d=\"").last?.split(separator: "\"").first)
        var covered = Set<[Int]>()
        for piece in path.split(separator: "z") where !piece.trimmingCharacters(in: .whitespaces).isEmpty {
            let numbers = piece.split(whereSeparator: { !"0123456789".contains($0) }).compactMap { Int($0) }
            try #require(numbers.count == 5)
            for x in numbers[0]..<(numbers[0] + numbers[2]) { covered.insert([x - 4, numbers[1] - 4]) }
        }
        let dark = Set((0..<code.size).flatMap { y in (0..<code.size).filter { code.module(x: $0, y: y) }.map { [$0, y] } })
        #expect(covered == dark)
    }

    // MARK: - Round trip through an independent decoder

    struct RoundTrip: Sendable, CustomTestStringConvertible {
        let name: String
        let text: String
        let level: Level
        let version: Int?
        var mask: Int? = nil
        var testDescription: String { "\(name) at \(level)" + (mask.map { " mask \($0)" } ?? "") }
    }

    static let otpauth125 =
        "otpauth://totp/Vigil:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Vigil&algorithm=SHA1&digits=6&period=30"
    static let otpauth279 =
        "otpauth://totp/Vigil%20Account%20Recovery:alexandra.montgomery-smith%40recovery.accounts.example.com"
        + "?secret=S4M6Q3XFQ4TYOW4KLKF77YMMZRZD5XE56E43FRNLZQLQD7Z7XHIOFMXC72D4A3VVE2BDA5WCZVZUFR7LKHOOUBR4GCK3ZFOT5APKD2Q"
        + "&issuer=Vigil%20Account%20Recovery&algorithm=SHA1&digits=6&period=30"

    static let roundTrips: [RoundTrip] = {
        var cases: [RoundTrip] = []
        for (index, level) in Level.allCases.enumerated() {
            cases.append(RoundTrip(name: "short ASCII", text: "Vigil", level: level, version: 1))
            cases.append(RoundTrip(name: "otpauth URI of 125 bytes", text: otpauth125, level: level, version: nil))
            cases.append(RoundTrip(name: "otpauth URI of 279 bytes", text: otpauth279, level: level, version: nil))
            for version in [1, 2, 5, 7, 10, 15, 25] {
                // The fullest symbol of the version, and the emptiest one that needs it (pad bytes).
                let most = capacity(version, level)
                let least = version == 1 ? 1 : capacity(version - 1, level) + 1
                for count in [most, least] {
                    let text = text(count, seed: version * 10 + index + count)
                    cases.append(RoundTrip(name: "\(count) bytes (version \(version))", text: text, level: level, version: version))
                }
            }
        }
        for mask in 0..<8 {
            let text = text(capacity(7, .medium), seed: mask)
            cases.append(RoundTrip(name: "version 7, forced", text: text, level: .medium, version: 7, mask: mask))
        }
        return cases
    }()

    @Test("the otpauth URIs have the sizes their names say")
    func uriSizes() {
        #expect(Self.otpauth125.utf8.count == 125)
        #expect(Self.otpauth279.utf8.count == 279)
    }

    @Test("zbarimg decodes the rendered SVG to exactly the input", arguments: roundTrips)
    func roundTrip(_ trip: RoundTrip) throws {
        let code = try QRCode.encode(Array(trip.text.utf8), correction: trip.level, mask: trip.mask)
        if let version = trip.version { #expect(code.version == version) }
        let decoded = try ZBar.decode(svg: code.svg(pixelsPerModule: 4))
        #expect(decoded == Array(trip.text.utf8), "decoded \(decoded.count) bytes, expected \(trip.text.utf8.count)")
    }

    @Test("the round trip can fail: a symbol with a damaged finder does not decode")
    func roundTripCanFail() throws {
        let svg = try QRCode.encode(Array("Vigil".utf8)).svg()
        // Paint the top-left finder over: no longer a QR code for any decoder.
        let damaged = svg.replacingOccurrences(of: "</svg>", with: "<rect x=\"4\" y=\"4\" width=\"7\" height=\"7\" fill=\"#000000\"/></svg>")
        let error = #expect(throws: ZBar.Failure.self) { try ZBar.decode(svg: damaged) }
        #expect(error?.kind == .notDecoded, "\(error.map(String.init(describing:)) ?? "no error")")
    }
}

/// Renders with `rsvg-convert` and decodes with `zbarimg` (installed by `scripts/install-deps --test`).
enum ZBar {
    struct Failure: Error, CustomStringConvertible {
        enum Kind: Equatable {
            case toolMissing
            case renderFailed
            case notDecoded
        }
        let kind: Kind
        let description: String
    }

    static func decode(svg: String) throws -> [UInt8] {
        let rsvg = try tool("rsvg-convert", package: "librsvg2-bin")
        let zbar = try tool("zbarimg", package: "zbar-tools")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let svgFile = directory.appendingPathComponent("code.svg")
        let pngFile = directory.appendingPathComponent("code.png")
        try Data(svg.utf8).write(to: svgFile)

        let render = try run(rsvg, ["--format=png", "--output", pngFile.path, svgFile.path])
        guard render.status == 0 else { throw Failure(kind: .renderFailed, description: "rsvg-convert failed (\(render.status)): \(render.stderr)") }
        let scan = try run(zbar, ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", "-Sbinary", pngFile.path])
        guard scan.status == 0 else { throw Failure(kind: .notDecoded, description: "zbarimg found no QR code (\(scan.status)): \(scan.stderr)") }
        var output = scan.stdout
        if output.last == 0x0A { output.removeLast() }
        return output
    }

    static func tool(_ name: String, package: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Failure(kind: .toolMissing, description: "\(name) is not on PATH: install the Debian package \(package) (scripts/install-deps --test)")
    }

    static func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(out), String(decoding: err, as: UTF8.self))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
