import Foundation

/// A QR Code Model 2 symbol (ISO/IEC 18004), encoded in byte mode: used to show TOTP
/// enrolment URIs (`otpauth://…`) to a person with an authenticator app.
///
/// The construction follows the structure of Project Nayuki's "QR Code generator library"
/// (MIT License, https://www.nayuki.io/page/qr-code-generator-library): one byte-mode segment,
/// Reed–Solomon codewords over GF(2^8) modulo 0x11D, block interleaving, function patterns,
/// zigzag placement, the eight masks and the four penalty rules. The tables are the standard's.
public struct QRCode: Sendable {
    /// The error correction level: about 7 %, 15 %, 25 % and 30 % of codewords recoverable.
    public enum ErrorCorrection: Sendable, CaseIterable {
        case low
        case medium
        case quartile
        case high

        /// The row in the ECC tables.
        fileprivate var ordinal: Int {
            switch self {
            case .low: 0
            case .medium: 1
            case .quartile: 2
            case .high: 3
            }
        }

        /// The two bits of the format information (L = 01, M = 00, Q = 11, H = 10).
        fileprivate var formatBits: Int {
            switch self {
            case .low: 1
            case .medium: 0
            case .quartile: 3
            case .high: 2
            }
        }
    }

    public enum EncodingError: Error, Equatable, Sendable {
        /// `byteCount` bytes exceed the `capacity` of version 40 at the requested level.
        case dataTooLong(byteCount: Int, capacity: Int)
    }

    /// 1…40.
    public let version: Int
    /// Modules per side: 17 + 4 × version.
    public let size: Int
    /// The level the symbol was encoded at.
    let correction: ErrorCorrection
    /// The mask pattern applied, 0…7.
    let mask: Int
    /// Row-major, `true` = dark.
    private let modules: [Bool]

    /// Encodes `bytes` in byte mode at the smallest version (1…40) that fits at the given level;
    /// the mask with the lowest penalty score.
    public static func encode(_ bytes: [UInt8], correction: ErrorCorrection = .medium) throws -> QRCode {
        try encode(bytes, correction: correction, mask: nil)
    }

    /// As `encode(_:correction:)`, with a forced mask (0…7) when `mask` is not nil.
    static func encode(_ bytes: [UInt8], correction: ErrorCorrection, mask forcedMask: Int?) throws -> QRCode {
        precondition(forcedMask.map { (0..<8).contains($0) } ?? true, "a mask is 0...7")
        guard let version = smallestVersion(byteCount: bytes.count, correction: correction) else {
            throw EncodingError.dataTooLong(byteCount: bytes.count, capacity: byteCapacity(version: 40, correction: correction))
        }
        let data = dataCodewords(bytes, version: version, correction: correction)
        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.drawCodewords(interleavedCodewords(data, version: version, correction: correction))

        var best: (mask: Int, matrix: Matrix, penalty: Int)?
        for mask in forcedMask.map({ [$0] }) ?? Array(0..<8) {
            var candidate = matrix
            candidate.applyMask(mask)
            candidate.drawFormatBits(formatBits(correction: correction, mask: mask))
            let penalty = forcedMask == nil ? candidate.penalty() : 0
            if best == nil || penalty < best!.penalty {
                best = (mask, candidate, penalty)
            }
        }
        return QRCode(version: version, size: matrix.size, correction: correction, mask: best!.mask, modules: best!.matrix.dark)
    }

    /// Whether the module at column `x`, row `y` is dark; outside the symbol (the quiet zone) is light.
    public func module(x: Int, y: Int) -> Bool {
        (0..<size).contains(x) && (0..<size).contains(y) && modules[y * size + x]
    }

    /// An SVG document: a 4-module quiet zone, one `<path>` of dark modules, `shape-rendering="crispEdges"`,
    /// viewBox in modules, width/height attributes from `pixelsPerModule`.
    public func svg(pixelsPerModule: Int = 8) -> String {
        precondition(pixelsPerModule > 0, "pixelsPerModule must be positive")
        let border = 4
        let side = size + 2 * border
        var path: [String] = []
        for y in 0..<size {
            var x = 0
            while x < size {
                guard module(x: x, y: y) else {
                    x += 1
                    continue
                }
                let start = x
                while module(x: x, y: y) { x += 1 }
                path.append("M\(start + border),\(y + border)h\(x - start)v1h-\(x - start)z")
            }
        }
        let pixels = side * pixelsPerModule
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(pixels)" height="\(pixels)" \
            viewBox="0 0 \(side) \(side)" shape-rendering="crispEdges">
            <rect width="\(side)" height="\(side)" fill="#ffffff"/>
            <path d="\(path.joined(separator: " "))" fill="#000000"/>
            </svg>

            """
    }

    // MARK: - Capacity and codewords

    /// The smallest version whose byte-mode capacity at `correction` holds `byteCount` bytes.
    static func smallestVersion(byteCount: Int, correction: ErrorCorrection) -> Int? {
        (1...40).first { byteCapacity(version: $0, correction: correction) >= byteCount }
    }

    /// Bytes one byte-mode segment can carry (4 mode bits, 8 or 16 count bits).
    static func byteCapacity(version: Int, correction: ErrorCorrection) -> Int {
        let bits = dataCodewordCount(version: version, correction: correction) * 8 - 4 - countBits(version: version)
        return min(bits / 8, (1 << countBits(version: version)) - 1)
    }

    /// Character-count bits of a byte-mode segment: 8 for versions 1–9, 16 for 10–40.
    private static func countBits(version: Int) -> Int {
        version <= 9 ? 8 : 16
    }

    /// Modules left for codewords (data and ECC) once every function pattern is placed; may not be a multiple of 8.
    private static func rawDataModules(version: Int) -> Int {
        var result = (16 * version + 128) * version + 64
        if version >= 2 {
            let align = version / 7 + 2
            result -= (25 * align - 10) * align - 55
            if version >= 7 { result -= 36 }
        }
        return result
    }

    private static func dataCodewordCount(version: Int, correction: ErrorCorrection) -> Int {
        rawDataModules(version: version) / 8 - eccBlocks[version - 1][correction.ordinal].perBlock * eccBlocks[version - 1][correction.ordinal].blocks
    }

    /// Mode indicator, count, data, terminator, zero bits to a byte boundary, then pad bytes 0xEC 0x11 …
    private static func dataCodewords(_ bytes: [UInt8], version: Int, correction: ErrorCorrection) -> [UInt8] {
        let capacity = dataCodewordCount(version: version, correction: correction)
        var bits = BitWriter()
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: countBits(version: version))
        for byte in bytes { bits.append(Int(byte), count: 8) }
        bits.append(0, count: min(4, capacity * 8 - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var result = bits.bytes
        var pad: UInt8 = 0xEC
        while result.count < capacity {
            result.append(pad)
            pad ^= 0xEC ^ 0x11
        }
        return result
    }

    /// Splits the data into blocks (short ones first), appends each block's ECC, and interleaves.
    private static func interleavedCodewords(_ data: [UInt8], version: Int, correction: ErrorCorrection) -> [UInt8] {
        let (eccLength, blocks) = eccBlocks[version - 1][correction.ordinal]
        let rawCodewords = rawDataModules(version: version) / 8
        let shortBlocks = blocks - rawCodewords % blocks
        let shortLength = rawCodewords / blocks
        let divisor = ReedSolomon.divisor(degree: eccLength)

        var split: [[UInt8]] = []
        var start = 0
        for index in 0..<blocks {
            let end = start + shortLength - eccLength + (index < shortBlocks ? 0 : 1)
            var block = Array(data[start..<end])
            let ecc = ReedSolomon.remainder(block, divisor: divisor)
            if index < shortBlocks { block.append(0) }  // a placeholder, skipped when interleaving
            split.append(block + ecc)
            start = end
        }

        var result: [UInt8] = []
        result.reserveCapacity(rawCodewords)
        for column in 0..<split[0].count {
            for (index, block) in split.enumerated() where column != shortLength - eccLength || index >= shortBlocks {
                result.append(block[column])
            }
        }
        return result
    }

    /// The 15 format bits for a level and mask: 5 data bits, a BCH(15,5) remainder (generator 0x537), XOR 0x5412.
    static func formatBits(correction: ErrorCorrection, mask: Int) -> Int {
        let data = correction.formatBits << 3 | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        return (data << 10 | remainder) ^ 0x5412
    }

    /// The 18 version bits (versions 7…40): 6 data bits and a BCH(18,6) remainder (generator 0x1F25).
    static func versionBits(version: Int) -> Int {
        var remainder = version
        for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
        return version << 12 | remainder
    }

    /// Centre coordinates of the alignment patterns, on both axes.
    static func alignmentPositions(version: Int) -> [Int] {
        guard version > 1 else { return [] }
        let count = version / 7 + 2
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        let last = version * 4 + 10
        return [6] + (0..<(count - 1)).reversed().map { last - $0 * step }
    }

    /// ISO/IEC 18004 Table 9, one row per version 1…40: (ECC codewords per block, number of blocks)
    /// at L, M, Q and H. Short and long blocks differ by one data codeword.
    private static let eccBlocks: [[(perBlock: Int, blocks: Int)]] = [
        [(7, 1), (10, 1), (13, 1), (17, 1)],  // 1
        [(10, 1), (16, 1), (22, 1), (28, 1)],  // 2
        [(15, 1), (26, 1), (18, 2), (22, 2)],  // 3
        [(20, 1), (18, 2), (26, 2), (16, 4)],  // 4
        [(26, 1), (24, 2), (18, 4), (22, 4)],  // 5
        [(18, 2), (16, 4), (24, 4), (28, 4)],  // 6
        [(20, 2), (18, 4), (18, 6), (26, 5)],  // 7
        [(24, 2), (22, 4), (22, 6), (26, 6)],  // 8
        [(30, 2), (22, 5), (20, 8), (24, 8)],  // 9
        [(18, 4), (26, 5), (24, 8), (28, 8)],  // 10
        [(20, 4), (30, 5), (28, 8), (24, 11)],  // 11
        [(24, 4), (22, 8), (26, 10), (28, 11)],  // 12
        [(26, 4), (22, 9), (24, 12), (22, 16)],  // 13
        [(30, 4), (24, 9), (20, 16), (24, 16)],  // 14
        [(22, 6), (24, 10), (30, 12), (24, 18)],  // 15
        [(24, 6), (28, 10), (24, 17), (30, 16)],  // 16
        [(28, 6), (28, 11), (28, 16), (28, 19)],  // 17
        [(30, 6), (26, 13), (28, 18), (28, 21)],  // 18
        [(28, 7), (26, 14), (26, 21), (26, 25)],  // 19
        [(28, 8), (26, 16), (30, 20), (28, 25)],  // 20
        [(28, 8), (26, 17), (28, 23), (30, 25)],  // 21
        [(28, 9), (28, 17), (30, 23), (24, 34)],  // 22
        [(30, 9), (28, 18), (30, 25), (30, 30)],  // 23
        [(30, 10), (28, 20), (30, 27), (30, 32)],  // 24
        [(26, 12), (28, 21), (30, 29), (30, 35)],  // 25
        [(28, 12), (28, 23), (28, 34), (30, 37)],  // 26
        [(30, 12), (28, 25), (30, 34), (30, 40)],  // 27
        [(30, 13), (28, 26), (30, 35), (30, 42)],  // 28
        [(30, 14), (28, 28), (30, 38), (30, 45)],  // 29
        [(30, 15), (28, 29), (30, 40), (30, 48)],  // 30
        [(30, 16), (28, 31), (30, 43), (30, 51)],  // 31
        [(30, 17), (28, 33), (30, 45), (30, 54)],  // 32
        [(30, 18), (28, 35), (30, 48), (30, 57)],  // 33
        [(30, 19), (28, 37), (30, 51), (30, 60)],  // 34
        [(30, 19), (28, 38), (30, 53), (30, 63)],  // 35
        [(30, 20), (28, 40), (30, 56), (30, 66)],  // 36
        [(30, 21), (28, 43), (30, 59), (30, 70)],  // 37
        [(30, 22), (28, 45), (30, 62), (30, 74)],  // 38
        [(30, 24), (28, 47), (30, 65), (30, 77)],  // 39
        [(30, 25), (28, 49), (30, 68), (30, 81)],  // 40
    ]
}

/// Appends bits most significant first.
private struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    mutating func append(_ value: Int, count width: Int) {
        for shift in stride(from: width - 1, through: 0, by: -1) {
            if count % 8 == 0 { bytes.append(0) }
            if (value >> shift) & 1 == 1 { bytes[count / 8] |= 0x80 >> UInt8(count % 8) }
            count += 1
        }
    }
}

/// Reed–Solomon over GF(2^8) with the field polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator α = 2.
private enum ReedSolomon {
    static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
        var product = 0
        for bit in stride(from: 7, through: 0, by: -1) {
            product = (product << 1) ^ ((product >> 7) * 0x11D)
            product ^= ((Int(y) >> bit) & 1) * Int(x)
        }
        return UInt8(product)
    }

    /// Coefficients of (x − α^0)(x − α^1)…(x − α^(degree−1)), highest power first, without the leading 1.
    static func divisor(degree: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: degree)
        result[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for index in 0..<degree {
                result[index] = multiply(result[index], root)
                if index + 1 < degree { result[index] ^= result[index + 1] }
            }
            root = multiply(root, 2)
        }
        return result
    }

    /// The remainder of data(x) · x^degree divided by the divisor: the ECC codewords.
    static func remainder(_ data: [UInt8], divisor: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: divisor.count)
        for byte in data {
            let factor = byte ^ result.removeFirst()
            result.append(0)
            for index in result.indices { result[index] ^= multiply(divisor[index], factor) }
        }
        return result
    }
}

/// The module grid while it is being built, with a mark on every function module.
private struct Matrix {
    let version: Int
    let size: Int
    var dark: [Bool]
    var isFunction: [Bool]

    init(version: Int) {
        self.version = version
        size = 17 + 4 * version
        dark = Array(repeating: false, count: size * size)
        isFunction = Array(repeating: false, count: size * size)
    }

    subscript(x: Int, y: Int) -> Bool { dark[y * size + x] }

    private mutating func setFunction(_ x: Int, _ y: Int, _ isDark: Bool) {
        dark[y * size + x] = isDark
        isFunction[y * size + x] = true
    }

    /// Timing patterns, finders with separators, alignment patterns, and the format and version areas.
    mutating func drawFunctionPatterns() {
        for index in 0..<size {
            setFunction(6, index, index % 2 == 0)
            setFunction(index, 6, index % 2 == 0)
        }
        drawFinder(3, 3)
        drawFinder(size - 4, 3)
        drawFinder(3, size - 4)
        let positions = QRCode.alignmentPositions(version: version)
        let last = positions.count - 1
        for (i, y) in positions.enumerated() {
            for (j, x) in positions.enumerated() where !(i == 0 && j == 0) && !(i == 0 && j == last) && !(i == last && j == 0) {
                for dy in -2...2 {
                    for dx in -2...2 { setFunction(x + dx, y + dy, max(abs(dx), abs(dy)) != 1) }
                }
            }
        }
        drawFormatBits(0)  // reserves the area; the real bits come with the mask
        if version >= 7 {
            let bits = QRCode.versionBits(version: version)
            for index in 0..<18 {
                let bit = (bits >> index) & 1 == 1
                setFunction(size - 11 + index % 3, index / 3, bit)
                setFunction(index / 3, size - 11 + index % 3, bit)
            }
        }
    }

    /// A 7×7 finder centred at (x, y) and its light separator, clipped to the symbol.
    private mutating func drawFinder(_ x: Int, _ y: Int) {
        for dy in -4...4 {
            for dx in -4...4 where (0..<size).contains(x + dx) && (0..<size).contains(y + dy) {
                let ring = max(abs(dx), abs(dy))
                setFunction(x + dx, y + dy, ring != 2 && ring != 4)
            }
        }
    }

    /// Both copies of the 15 format bits (bit 0 is the least significant), and the dark module.
    mutating func drawFormatBits(_ bits: Int) {
        func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
        for index in 0...5 { setFunction(8, index, bit(index)) }
        setFunction(8, 7, bit(6))
        setFunction(8, 8, bit(7))
        setFunction(7, 8, bit(8))
        for index in 9..<15 { setFunction(14 - index, 8, bit(index)) }
        for index in 0..<8 { setFunction(size - 1 - index, 8, bit(index)) }
        for index in 8..<15 { setFunction(8, size - 15 + index, bit(index)) }
        setFunction(8, size - 8, true)
    }

    /// Places the codeword bits in the two-column zigzag from the bottom-right corner, skipping function modules.
    mutating func drawCodewords(_ codewords: [UInt8]) {
        var bitIndex = 0
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }  // the vertical timing pattern
            let upward = (right + 1) & 2 == 0
            for step in 0..<size {
                let y = upward ? size - 1 - step : step
                for x in [right, right - 1] where !isFunction[y * size + x] && bitIndex < codewords.count * 8 {
                    dark[y * size + x] = (codewords[bitIndex >> 3] >> (7 - UInt8(bitIndex & 7))) & 1 == 1
                    bitIndex += 1
                }
            }
            right -= 2
        }
    }

    /// XORs mask pattern `mask` onto every non-function module (x is the column, y the row).
    mutating func applyMask(_ mask: Int) {
        for y in 0..<size {
            for x in 0..<size where !isFunction[y * size + x] {
                let flip: Bool
                switch mask {
                case 0: flip = (x + y) % 2 == 0
                case 1: flip = y % 2 == 0
                case 2: flip = x % 3 == 0
                case 3: flip = (x + y) % 3 == 0
                case 4: flip = (x / 3 + y / 2) % 2 == 0
                case 5: flip = x * y % 2 + x * y % 3 == 0
                case 6: flip = (x * y % 2 + x * y % 3) % 2 == 0
                default: flip = ((x + y) % 2 + x * y % 3) % 2 == 0
                }
                if flip { dark[y * size + x].toggle() }
            }
        }
    }

    /// The penalty score of the four rules: runs of 5+ (N1 = 3), 2×2 blocks (N2 = 3),
    /// finder-like 1:1:3:1:1 patterns with 4 light modules on a side (N3 = 40), dark/light imbalance (N4 = 10).
    func penalty() -> Int {
        var result = 0
        for horizontal in [true, false] {
            for line in 0..<size {
                var runColor = false
                var runLength = 0
                var history = RunHistory(size: size)
                for position in 0..<size {
                    let color = horizontal ? self[position, line] : self[line, position]
                    if color == runColor {
                        runLength += 1
                        if runLength == 5 {
                            result += 3
                        } else if runLength > 5 {
                            result += 1
                        }
                    } else {
                        history.add(runLength)
                        if !runColor { result += history.finderLikeCount() * 40 }
                        runColor = color
                        runLength = 1
                    }
                }
                result += history.terminate(runColor: runColor, runLength: runLength) * 40
            }
        }
        for y in 0..<(size - 1) {
            for x in 0..<(size - 1) {
                let color = self[x, y]
                if color == self[x + 1, y] && color == self[x, y + 1] && color == self[x + 1, y + 1] { result += 3 }
            }
        }
        let darkCount = dark.reduce(0) { $0 + ($1 ? 1 : 0) }
        let total = size * size
        // The smallest k ≥ 0 with (45 − 5k) % ≤ dark/total ≤ (55 + 5k) %.
        let k = (abs(darkCount * 20 - total * 10) + total - 1) / total - 1
        return result + k * 10
    }
}

/// The last seven run lengths along a line, newest first, with the light quiet zone counted as part of the edge runs.
private struct RunHistory {
    let size: Int
    private var runs = [Int](repeating: 0, count: 7)

    init(size: Int) { self.size = size }

    mutating func add(_ length: Int) {
        runs.removeLast()
        runs.insert(runs[0] == 0 ? length + size : length, at: 0)
    }

    /// Called after a light run ends: 0, 1 or 2 finder-like patterns with 4 light modules before or after.
    func finderLikeCount() -> Int {
        let n = runs[1]
        let core = n > 0 && runs[2] == n && runs[3] == n * 3 && runs[4] == n && runs[5] == n
        return (core && runs[0] >= n * 4 && runs[6] >= n ? 1 : 0) + (core && runs[6] >= n * 4 && runs[0] >= n ? 1 : 0)
    }

    /// Ends the line: closes the current run and adds the light quiet zone after it.
    mutating func terminate(runColor: Bool, runLength: Int) -> Int {
        var length = runLength
        if runColor {
            add(length)
            length = 0
        }
        add(length + size)
        return finderLikeCount()
    }
}
