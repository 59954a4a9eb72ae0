import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilHTTP
import VigilStore
import VigilTestSupport

/// Runs a tool and returns its standard output; fails the test when the tool is missing or
/// fails (the tools are installed by `scripts/install-deps --test`).
func run(_ tool: String, _ arguments: [String], stdin: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + arguments
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    if stdin != nil { p.standardInput = input }
    try p.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw ToolFailure(message: "\(tool) exited \(p.terminationStatus): \(errors.prefix(300))")
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

struct ToolFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A code from `oathtool` (Debian's oathtool, an implementation that is not ours) at `date`.
func oathtool(secret: String, at date: Date, digits: Int = 6, algorithm: String = "SHA1") throws -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
    return try run(
        "oathtool",
        ["--totp=\(algorithm.lowercased())", "--base32", "--digits=\(digits)", "--now=\(formatter.string(from: date)) UTC", secret]
    )
}

struct Enrolled {
    let secret: String
    let uri: String
    let svg: String
}

extension TestService {
    /// Registers a subject and enrols TOTP, activating it with a code from oathtool.
    func enrol(_ client: some TestClientProtocol, subject: String, key: String) async throws -> Enrolled {
        let r0 = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"\#(subject)"}"#)
        #expect(r0.status == .created)
        let r = try await client.post("/v1/subjects/\(subject)/totp", key: key, json: "")
        #expect(r.status == .created)
        let body = try json(r)
        let secret = try #require(body["secret"] as? String)
        let code = try oathtool(secret: secret, at: clock.now())
        let a = try await client.post("/v1/subjects/\(subject)/totp/activate", key: key, json: #"{"code":"\#(code)"}"#)
        #expect(a.status == .ok)
        return Enrolled(secret: secret, uri: try #require(body["otpauth_uri"] as? String), svg: try #require(body["qr_svg"] as? String))
    }
}

@Suite("TOTP and recovery codes over HTTP")
struct SecondFactorHTTPTests {
    @Test("an enrolled secret verifies codes from oathtool; the URI parses in pyotp; the QR code decodes with zbarimg to the URI")
    func interop() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0001", key: key)
            #expect(e.secret.count == 32)  // 160 bits in base32, no padding
            #expect(!e.secret.contains("="))
            service.clock.advance(seconds: 30)
            let code = try oathtool(secret: e.secret, at: service.clock.now())
            let v = try json(try await client.post("/v1/subjects/deadbeef-0001/totp/verify", key: key, json: #"{"code":"\#(code)"}"#))
            #expect(v["valid"] as? Bool == true)

            let parsed = try run(
                "python3",
                [
                    "-c",
                    "import sys, pyotp; t = pyotp.parse_uri(sys.argv[1]); print(t.secret, t.issuer, t.name, t.digits, t.interval, t.digest().name)",
                    e.uri,
                ]
            )
            #expect(parsed == "\(e.secret) Vigil Wallet deadbeef-0001 6 30 sha1")

            let dir = try TemporaryDirectory()
            try e.svg.write(toFile: dir.file("qr.svg"), atomically: true, encoding: .utf8)
            _ = try run("rsvg-convert", ["-o", dir.file("qr.png"), dir.file("qr.svg")])
            let decoded = try run("zbarimg", ["--raw", "-q", dir.file("qr.png")])
            #expect(decoded == e.uri)
        }
    }

    @Test("many parallel verifies of one valid code: exactly one succeeds")
    func replayUnderConcurrency() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        var policies = service.policies
        policies.setRateLimit(limit: 1000)
        let relaxed = try TestService(policies: policies)
        let relaxedKey = try await relaxed.apiKey([.subjectsWrite, .credentialsVerify])
        _ = key
        try await relaxed.test { client in
            let e = try await relaxed.enrol(client, subject: "deadbeef-0002", key: relaxedKey)
            relaxed.clock.advance(seconds: 60)
            let code = try oathtool(secret: e.secret, at: relaxed.clock.now())
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        let r = try await client.post("/v1/subjects/deadbeef-0002/totp/verify", key: relaxedKey, json: #"{"code":"\#(code)"}"#)
                        return try json(r)["valid"] as? Bool ?? false
                    }
                }
                var all: [Bool] = []
                for try await r in group { all.append(r) }
                return all
            }
            #expect(results.count == 40)
            #expect(results.filter { $0 }.count == 1)
        }
    }

    @Test("the window is T-1…T+1 on the server's clock, and a code from before the last accepted step is refused")
    func window() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0003", key: key)
            service.clock.advance(seconds: 300)
            let now = service.clock.now()
            func verify(_ offset: Int) async throws -> Bool {
                let code = try oathtool(secret: e.secret, at: now.addingTimeInterval(TimeInterval(30 * offset)))
                return try json(try await client.post("/v1/subjects/deadbeef-0003/totp/verify", key: key, json: #"{"code":"\#(code)"}"#))["valid"]
                    as? Bool ?? false
            }
            #expect(try await verify(-2) == false)
            #expect(try await verify(2) == false)
            #expect(try await verify(-1) == true)
            #expect(try await verify(0) == true)
            #expect(try await verify(-1) == false)  // before the last accepted step
            #expect(try await verify(1) == true)
            #expect(try await verify(1) == false)  // the same step again
        }
    }

    @Test("failures lock the factor with a growing delay; while locked even a correct code gets 429 with Retry-After; success resets")
    func lockout() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0004", key: key)
            let lockout = service.policies.authentication.lockout[.totp]
            var failures = 0
            // The free failures answer valid:false at once.
            for _ in 0..<lockout.freeFailures {
                service.clock.advance(seconds: 61)
                let r = try await client.post("/v1/subjects/deadbeef-0004/totp/verify", key: key, json: #"{"code":"000000"}"#)
                #expect(try json(r)["valid"] as? Bool == false || (try oathtool(secret: e.secret, at: service.clock.now())) == "000000")
                failures += 1
            }
            // The next failure locks for base_delay_seconds.
            service.clock.advance(seconds: 61)
            _ = try await client.post("/v1/subjects/deadbeef-0004/totp/verify", key: key, json: #"{"code":"000000"}"#)
            let good = try oathtool(secret: e.secret, at: service.clock.now())
            let locked = try await client.post("/v1/subjects/deadbeef-0004/totp/verify", key: key, json: #"{"code":"\#(good)"}"#)
            try expectErrorShape(locked, status: .tooManyRequests, code: "rate_limited")
            #expect(locked.headers[.retryAfter] == String(lockout.baseDelaySeconds))
            // After the delay, a correct code works and resets the count.
            service.clock.advance(seconds: TimeInterval(lockout.baseDelaySeconds + 1))
            let code = try oathtool(secret: e.secret, at: service.clock.now())
            let ok = try await client.post("/v1/subjects/deadbeef-0004/totp/verify", key: key, json: #"{"code":"\#(code)"}"#)
            #expect(try json(ok)["valid"] as? Bool == true)
            let states = try await SecondFactorService(service.deps.core).factorStates(subjectID: "deadbeef-0004")
            #expect(states[.totp] == .clear)
        }
    }

    @Test("TOTP verifies are rate-limited per subject, right or wrong, apart from recovery codes; 429 with Retry-After to the window's end")
    func totpRateLimit() async throws {
        var policies = try TestService.shippedPolicies()
        policies.setRateLimit(limit: 3)
        let service = try TestService(policies: policies)
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0041", key: key)
            let other = try await service.enrol(client, subject: "deadbeef-0042", key: key)
            // Start of a fixed window, so that the three requests and the fourth share it.
            let t = service.clock.now().timeIntervalSince1970
            service.clock.advance(seconds: 60 - t.truncatingRemainder(dividingBy: 60) + 1)
            let codes = try json(try await client.post("/v1/subjects/deadbeef-0041/recovery-codes", key: key, json: ""))["codes"] as? [String]
            let good = try oathtool(secret: e.secret, at: service.clock.now())
            let wrong = good == "000000" ? "111111" : "000000"
            // Two wrong codes and a right one use up the budget of 3 (the lockout's free failures are 3).
            for code in [wrong, wrong, good] {
                #expect(try await client.post("/v1/subjects/deadbeef-0041/totp/verify", key: key, json: #"{"code":"\#(code)"}"#).status == .ok)
            }
            service.clock.advance(seconds: 30)
            let next = try oathtool(secret: e.secret, at: service.clock.now())
            let limited = try await client.post("/v1/subjects/deadbeef-0041/totp/verify", key: key, json: #"{"code":"\#(next)"}"#)
            try expectErrorShape(limited, status: .tooManyRequests, code: "rate_limited")
            #expect(limited.headers[.retryAfter] == "29")
            // Recovery codes and other subjects have budgets of their own.
            let recovery = try await client.post(
                "/v1/subjects/deadbeef-0041/totp/verify",
                key: key,
                json: #"{"recovery_code":"\#(try #require(codes?.first))"}"#
            )
            #expect(try json(recovery)["valid"] as? Bool == true)
            let otherCode = try oathtool(secret: other.secret, at: service.clock.now())
            #expect(
                try json(try await client.post("/v1/subjects/deadbeef-0042/totp/verify", key: key, json: #"{"code":"\#(otherCode)"}"#))["valid"]
                    as? Bool == true
            )
            // The next window: the code of the current step verifies.
            service.clock.advance(seconds: 30)
            let later = try oathtool(secret: e.secret, at: service.clock.now())
            #expect(
                try json(try await client.post("/v1/subjects/deadbeef-0041/totp/verify", key: key, json: #"{"code":"\#(later)"}"#))["valid"] as? Bool
                    == true
            )
        }
        let actions = try await service.auditActions()
        #expect(actions.filter { $0 == "totp.verify.rate_limited" }.count == 1)
        #expect(actions.filter { $0 == "totp.verify.failed" }.count == 2)
    }

    @Test("recovery codes: 10 codes of at least 50 bits, each works once, a new set voids the old, racing uses: one wins")
    func recoveryCodes() async throws {
        var policies = try TestService().policies
        policies.setRateLimit(limit: 1000)
        let service = try TestService(policies: policies)
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await service.enrol(client, subject: "deadbeef-0005", key: key)
            let r = try await client.post("/v1/subjects/deadbeef-0005/recovery-codes", key: key, json: "")
            #expect(r.status == .created)
            let codes = try #require(try json(r)["codes"] as? [String])
            #expect(codes.count == 10)
            #expect(Set(codes).count == 10)
            for c in codes { #expect(c.filter { $0 != "-" }.count * 5 >= 50) }
            func use(_ code: String) async throws -> [String: Any] {
                try json(try await client.post("/v1/subjects/deadbeef-0005/totp/verify", key: key, json: #"{"recovery_code":"\#(code)"}"#))
            }
            let first = try await use(codes[0].uppercased())
            #expect(first["valid"] as? Bool == true)
            #expect(first["recovery_codes_remaining"] as? Int == 9)
            #expect(try await use(codes[0])["valid"] as? Bool == false)
            let racing = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 { group.addTask { try await use(codes[1])["valid"] as? Bool ?? false } }
                var all: [Bool] = []
                for try await r in group { all.append(r) }
                return all
            }
            #expect(racing.filter { $0 }.count == 1)
            let fresh = try #require(
                try json(try await client.post("/v1/subjects/deadbeef-0005/recovery-codes", key: key, json: ""))["codes"] as? [String]
            )
            #expect(try await use(codes[2])["valid"] as? Bool == false)
            let ok = try await use(fresh[0])
            #expect(ok["valid"] as? Bool == true)
            #expect(ok["recovery_codes_remaining"] as? Int == 9)
        }
    }

    @Test("re-enrolment replaces the active secret only when the new one is activated")
    func reEnrolment() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let old = try await service.enrol(client, subject: "deadbeef-0006", key: key)
            let r = try await client.post("/v1/subjects/deadbeef-0006/totp", key: key, json: "")
            let newSecret = try #require(try json(r)["secret"] as? String)
            service.clock.advance(seconds: 30)
            let oldCode = try oathtool(secret: old.secret, at: service.clock.now())
            #expect(
                try json(try await client.post("/v1/subjects/deadbeef-0006/totp/verify", key: key, json: #"{"code":"\#(oldCode)"}"#))["valid"]
                    as? Bool == true
            )
            let wrong = try await client.post("/v1/subjects/deadbeef-0006/totp/activate", key: key, json: #"{"code":"\#(oldCode)"}"#)
            try expectErrorShape(wrong, status: .unprocessableContent, code: "invalid_code", field: "code")
            service.clock.advance(seconds: 30)
            let newCode = try oathtool(secret: newSecret, at: service.clock.now())
            #expect(try await client.post("/v1/subjects/deadbeef-0006/totp/activate", key: key, json: #"{"code":"\#(newCode)"}"#).status == .ok)
            service.clock.advance(seconds: 30)
            let stale = try oathtool(secret: old.secret, at: service.clock.now())
            let fresh = try oathtool(secret: newSecret, at: service.clock.now())
            if stale != fresh {
                #expect(
                    try json(try await client.post("/v1/subjects/deadbeef-0006/totp/verify", key: key, json: #"{"code":"\#(stale)"}"#))["valid"]
                        as? Bool == false
                )
            }
            #expect(
                try json(try await client.post("/v1/subjects/deadbeef-0006/totp/verify", key: key, json: #"{"code":"\#(fresh)"}"#))["valid"] as? Bool
                    == true
            )
        }
    }

    @Test("verify needs credentials:verify; unknown subjects and subjects without TOTP are 404; bad bodies 400")
    func errors() async throws {
        let service = try TestService()
        let writer = try await service.apiKey([.subjectsWrite])
        let verifier = try await service.apiKey([.credentialsVerify], name: "verifier")
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: writer, json: #"{"subject_id":"deadbeef-0007"}"#)
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0007/totp/verify", key: writer, json: #"{"code":"123456"}"#),
                status: .forbidden,
                code: "forbidden"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0007/totp/verify", key: verifier, json: #"{"code":"123456"}"#),
                status: .notFound,
                code: "not_found"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/nobody/totp/verify", key: verifier, json: #"{"code":"123456"}"#),
                status: .notFound,
                code: "not_found"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0007/totp/verify", key: verifier, json: #"{"code":123456}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "code"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0007/totp/verify", key: verifier, json: #"{}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "code"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/nobody/totp", key: writer, json: ""),
                status: .notFound,
                code: "not_found"
            )
        }
    }
}
