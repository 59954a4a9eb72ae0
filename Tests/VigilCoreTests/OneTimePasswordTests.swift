import Foundation
import Testing
import VigilCore
import VigilCrypto

private struct HOTPFile: Decodable {
    struct Case: Decodable {
        let counter: UInt64
        let code: String
        let expected: String
    }
    let source: String
    let secret_hex: String
    let digits: Int
    let cases: [Case]
}

private struct TOTPFile: Decodable {
    struct Case: Decodable {
        let unix_time: Double
        let algorithm: String
        let secret_hex: String
        let code: String
        let expected: String
    }
    let source: String
    let digits: Int
    let period: Int
    let cases: [Case]
}

private func vector<T: Decodable>(_ name: String, as: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: "Vectors", withExtension: nil)).appendingPathComponent(name)
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

private func secret(hex: String) throws -> SecretBytes {
    try SecretBytes(copying: try #require(ByteEncoding.fromHex(hex)))
}

@Suite("One-time passwords")
struct OneTimePasswordTests {
    @Test("RFC 4226 Appendix D HOTP values")
    func rfc4226() throws {
        let file = try vector("hotp-rfc4226.json", as: HOTPFile.self)
        #expect(file.cases.count == 10)
        let key = try secret(hex: file.secret_hex)
        for c in file.cases {
            #expect(try OneTimePassword.hotp(secret: key, counter: c.counter, digits: file.digits, algorithm: .sha1) == c.code)
        }
    }

    @Test("RFC 6238 Appendix B TOTP values for SHA-1, SHA-256 and SHA-512 at 8 digits")
    func rfc6238() throws {
        let file = try vector("totp-rfc6238.json", as: TOTPFile.self)
        #expect(file.cases.count == 18)
        for c in file.cases {
            let algorithm = try #require(OneTimePassword.Algorithm(rawValue: c.algorithm))
            let params = OneTimePassword.Parameters(algorithm: algorithm, digits: file.digits, period: file.period, window: 0)
            let key = try secret(hex: c.secret_hex)
            let date = Date(timeIntervalSince1970: c.unix_time)
            #expect(try OneTimePassword.totp(secret: key, at: date, parameters: params) == c.code, "t=\(c.unix_time) \(c.algorithm)")
            let step = OneTimePassword.step(at: date, period: 30)
            #expect(try OneTimePassword.verify(c.code, secret: key, now: date, parameters: params, lastAcceptedStep: nil) == step)
        }
    }

    @Test("the window is exactly T-1, T and T+1 around the server's clock")
    func window() throws {
        let key = try secret(hex: "3132333435363738393031323334353637383930")
        let p = OneTimePassword.Parameters()
        let now = Date(timeIntervalSince1970: 1_234_567_890)
        let t = OneTimePassword.step(at: now, period: 30)
        for offset in -3...3 {
            let code = try OneTimePassword.hotp(secret: key, counter: UInt64(Int(t) + offset), digits: 6, algorithm: .sha1)
            let accepted = try OneTimePassword.verify(code, secret: key, now: now, parameters: p, lastAcceptedStep: nil)
            if abs(offset) <= 1 {
                #expect(accepted == UInt64(Int(t) + offset), "offset \(offset)")
            } else {
                // A code from another step may collide by chance with one in the window: rule that out.
                let inWindow = try (-1...1).map { try OneTimePassword.hotp(secret: key, counter: UInt64(Int(t) + $0), digits: 6, algorithm: .sha1) }
                if !inWindow.contains(code) { #expect(accepted == nil, "offset \(offset)") }
            }
        }
    }

    @Test("a step at or before the last accepted step is never accepted again")
    func noReplay() throws {
        let key = try secret(hex: "3132333435363738393031323334353637383930")
        let p = OneTimePassword.Parameters()
        let now = Date(timeIntervalSince1970: 1_234_567_890)
        let t = OneTimePassword.step(at: now, period: 30)
        let code = try OneTimePassword.totp(secret: key, at: now, parameters: p)
        #expect(try OneTimePassword.verify(code, secret: key, now: now, parameters: p, lastAcceptedStep: t - 1) == t)
        #expect(try OneTimePassword.verify(code, secret: key, now: now, parameters: p, lastAcceptedStep: t) == nil)
        #expect(try OneTimePassword.verify(code, secret: key, now: now, parameters: p, lastAcceptedStep: t + 1) == nil)
        // The previous step's code is refused once the current step was accepted.
        let previous = try OneTimePassword.hotp(secret: key, counter: t - 1, digits: 6, algorithm: .sha1)
        #expect(try OneTimePassword.verify(previous, secret: key, now: now, parameters: p, lastAcceptedStep: t) == nil)
    }

    @Test("malformed codes are not valid", arguments: ["", "12345", "1234567", "12345a", " 123456", "１２３４５６", "-12345"])
    func malformed(code: String) throws {
        let key = try secret(hex: "3132333435363738393031323334353637383930")
        #expect(
            try OneTimePassword.verify(code, secret: key, now: Date(timeIntervalSince1970: 59), parameters: .init(), lastAcceptedStep: nil) == nil
        )
    }
}
