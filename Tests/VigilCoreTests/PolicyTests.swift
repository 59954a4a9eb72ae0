import Foundation
import Testing
import VigilCore
import VigilCrypto

@Suite("Policy loading")
struct PolicyLoadingTests {
    @Test("the shipped Policies folder loads and validates")
    func shippedPoliciesLoad() throws {
        let set = try PolicySet.load(directory: PolicyFixtures.shippedDirectory)

        let password = set.authentication.password
        #expect(password.minLength == 8)
        #expect(password.singleFactorMinLength == 15)
        #expect(password.maxLength == 128)
        #expect(password.minimumLength(hasSecondFactor: false) == 15)
        #expect(password.argon2id == .init(memoryKiB: 19456, iterations: 2, parallelism: 1))
        #expect(password.argon2id.cost == Argon2idCost(opsLimit: 2, memLimit: 19456 * 1024))
        #expect(password.blocklist == "common-passwords.txt")

        let totp = set.authentication.totp
        #expect(totp.algorithm == .sha1)
        #expect(totp.digits == 6)
        #expect(totp.periodSeconds == 30)
        #expect(totp.windowSteps == 1)
        #expect(totp.secretBytes == 20)
        #expect(totp.label(subject: "deadbeef-0001") == "Vigil Wallet:deadbeef-0001")
        #expect(set.authentication.recoveryCodes == .init(count: 10, entropyBits: 64))
        #expect(set.authentication.lockout[.password].maxConsecutiveFailures == 100)
        #expect(set.authentication.lockout[.totp].maxConsecutiveFailures == 20)
        #expect(set.authentication.rateLimits[.totpVerify] == .init(limit: 10, windowSeconds: 60))

        let reset = set.recovery.passwordReset
        #expect(reset.tokenTTLSeconds == 900)
        #expect(reset.coolingOffHours == 24)
        #expect(reset.link(token: "abc_DEF-123") == "https://wallet.example/reset?token=abc_DEF-123")
        #expect(set.recovery.verificationChecks[.emailOTP].code == .init(digits: 6, ttlSeconds: 600, maxAttempts: 5))
        #expect(set.recovery.verificationChecks[.totp].code == nil)
        for action in RecoveryPolicy.Action.allCases where action.isHighRisk {
            #expect(set.recovery.actions[action].fourEyes, "\(action) must need a second approval")
        }
        #expect(set.recovery.suspiciousLogin.impossibleTravel.maxSpeedKmh == 900)

        #expect(set.sla.supportTimeZone.identifier == "Asia/Shanghai")
        #expect(set.sla.channels == CaseChannel.allCases)
        #expect(set.sla.categories == CaseCategory.allCases)
        #expect(set.sla.priorities[.p1] == .init(firstResponseMinutes: 15, resolutionMinutes: 240))
        #expect(set.retention.afterCaseClosedDays[.notes] == 365)
        #expect(set.retention.afterEventDays[.loginHistory] == 180)
        #expect(set.audit == .init(origin: "wallet.example/vigil/audit", checkpointEveryEntries: 1000, checkpointEverySeconds: 60))

        #expect(set.digest == PolicySet.digest(of: try PolicyFixtures.shippedFiles()))
        #expect(set.digest.count == 64 && set.digest.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test("a copy of the folder loads to the same set; other files in it are ignored")
    func copyLoadsTheSame() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("one\ntwo\n".utf8).write(to: directory.appendingPathComponent("common-passwords.txt"))
        try Data("# notes\n".utf8).write(to: directory.appendingPathComponent("NOTES.md"))

        #expect(try PolicySet.load(directory: directory) == PolicySet.load(directory: PolicyFixtures.shippedDirectory))
    }

    @Test("loading from bytes gives the same set as loading from the folder")
    func loadFromBytes() throws {
        let fromBytes = try PolicySet.load(files: PolicyFixtures.shippedFiles())
        #expect(try fromBytes == PolicySet.load(directory: PolicyFixtures.shippedDirectory))
    }
}

@Suite("Policy validation errors")
struct PolicyValidationTests {
    typealias E = PolicyMutation.Expected
    static let auth = "authentication.yaml"
    static let recovery = "recovery.yaml"
    static let sla = "sla.yaml"
    static let retention = "retention.yaml"
    static let audit = "audit.yaml"

    static let mutations: [PolicyMutation] = [
        // Out of range, with the rule's source.
        PolicyMutation(
            "lockout above NIST's 100",
            auth,
            replacing: "    max_consecutive_failures: 20\n  recovery_code:",
            with: "    max_consecutive_failures: 500\n  recovery_code:",
            [E(auth, "lockout.totp.max_consecutive_failures", .outOfRange, "500 is out of range (1…100, NIST SP 800-63B §5.2.2)")]
        ),
        PolicyMutation(
            "argon2id memory below OWASP's minimum",
            auth,
            replacing: "memory_kib: 19456",
            with: "memory_kib: 16384",
            [E(auth, "password.argon2id.memory_kib", .outOfRange, "16384 is out of range (19456…1048576, OWASP Password Storage Cheat Sheet)")]
        ),
        PolicyMutation(
            "password minimum below 8",
            auth,
            replacing: "  min_length: 8\n",
            with: "  min_length: 6\n",
            [E(auth, "password.min_length", .outOfRange, "6 is out of range (8…1024, NIST SP 800-63B §5.1.1.2)")]
        ),
        PolicyMutation(
            "TOTP window wider than 2 steps",
            auth,
            replacing: "window_steps: 1",
            with: "window_steps: 6",
            [E(auth, "totp.window_steps", .outOfRange, "6 is out of range (0…2, RFC 6238 §5.2)")]
        ),
        PolicyMutation(
            "retention of zero days",
            retention,
            replacing: "  notes: 365",
            with: "  notes: 0",
            [E(retention, "after_case_closed_days.notes", .outOfRange, "0 is out of range (1…3650)")]
        ),
        PolicyMutation(
            "growth factor below 1",
            auth,
            replacing: "    base_delay_seconds: 60\n    growth_factor: 2.0",
            with: "    base_delay_seconds: 60\n    growth_factor: 0.5",
            [E(auth, "lockout.recovery_code.growth_factor", .outOfRange, "0.5 is out of range (1.0…10.0)")]
        ),

        // Unknown keys: typos are caught, with a suggestion when one is close.
        PolicyMutation(
            "misspelt key",
            auth,
            replacing: "    max_consecutive_failures: 100",
            with: "    max_consecutive_failure: 100",
            [
                E(auth, "lockout.password.max_consecutive_failures", .missingKey, "required key is missing"),
                E(auth, "lockout.password.max_consecutive_failure", .unknownKey, "unknown key (did you mean 'max_consecutive_failures'?)"),
            ]
        ),
        PolicyMutation(
            "key the schema does not have",
            audit,
            replacing: "origin: wallet.example/vigil/audit",
            with: "origin: wallet.example/vigil/audit\nsigning: false",
            [E(audit, "signing", .unknownKey, "unknown key")]
        ),
        PolicyMutation(
            "unknown verification check",
            recovery,
            replacing: "  id_document:\n",
            with: "  selfie:\n    weight: 1\n    valid_minutes: 5\n  id_document:\n",
            [E(recovery, "verification_checks.selfie", .unknownKey, "unknown key")]
        ),
        PolicyMutation(
            "a one-time-code key on a check that sends no code",
            recovery,
            replacing: "  totp:\n    weight: 3\n",
            with: "  totp:\n    code_digits: 6\n    weight: 3\n",
            [E(recovery, "verification_checks.totp.code_digits", .unknownKey, "unknown key")]
        ),

        // Missing keys.
        PolicyMutation(
            "missing key",
            audit,
            replacing: "  every_seconds: 60\n",
            with: "",
            [E(audit, "checkpoint.every_seconds", .missingKey, "required key is missing")]
        ),
        PolicyMutation(
            "priority left out",
            sla,
            replacing: "  P4:\n    first_response_minutes: 1440\n    resolution_minutes: 10080\n",
            with: "",
            [E(sla, "priorities.P4", .missingKey, "required key is missing")]
        ),
        PolicyMutation(
            "a triage rule without a condition",
            sla,
            replacing: "  - name: refund\n    categories: [refund]\n",
            with: "  - name: refund\n",
            [E(sla, "triage[5]", .missingKey, "a triage rule needs at least one of categories, channels, signals")]
        ),

        // Wrong types.
        PolicyMutation(
            "a word for a number",
            auth,
            replacing: "  min_length: 8\n",
            with: "  min_length: eight\n",
            [E(auth, "password.min_length", .wrongType, "expected an integer, found the string \"eight\"")]
        ),
        PolicyMutation(
            "a quoted number",
            auth,
            replacing: "digits: 6",
            with: "digits: \"6\"",
            [E(auth, "totp.digits", .wrongType, "expected an integer, found the string \"6\"")]
        ),
        PolicyMutation(
            "YAML 1.1 octal",
            auth,
            replacing: "period_seconds: 30",
            with: "period_seconds: 030",
            [E(auth, "totp.period_seconds", .wrongType, "expected a decimal integer, found 030")]
        ),
        PolicyMutation(
            "yes for true",
            recovery,
            replacing: "require_second_factor: true",
            with: "require_second_factor: yes",
            [E(recovery, "password_reset.require_second_factor", .wrongType, "expected true or false, found yes")]
        ),
        PolicyMutation(
            "a list for a mapping",
            audit,
            replacing: "checkpoint:\n  # Allowed: 1…1000000.\n  every_entries: 1000\n  # Allowed: 1…86400.\n  every_seconds: 60\n",
            with: "checkpoint: [1000, 60]\n",
            [E(audit, "checkpoint", .wrongType, "expected a mapping, found a list")]
        ),
        PolicyMutation(
            "a number for a string",
            audit,
            replacing: "origin: wallet.example/vigil/audit",
            with: "origin: 2024",
            [E(audit, "origin", .wrongType, "expected a string, found 2024 (quote it to use it as text)")]
        ),
        PolicyMutation(
            "no value",
            sla,
            replacing: "recent_change_window_hours: 72",
            with: "recent_change_window_hours:",
            [E(sla, "recent_change_window_hours", .wrongType, "expected an integer, found null")]
        ),

        // Invalid enum and other values.
        PolicyMutation(
            "unknown TOTP algorithm",
            auth,
            replacing: "algorithm: SHA1",
            with: "algorithm: SHA3",
            [E(auth, "totp.algorithm", .invalidValue, "'SHA3' is not one of SHA1, SHA256, SHA512 (RFC 6238 §1.2)")]
        ),
        PolicyMutation(
            "seven digits",
            auth,
            replacing: "digits: 6",
            with: "digits: 7",
            [E(auth, "totp.digits", .invalidValue, "7 is not one of 6, 8 (RFC 4226 §5.3, RFC 6238)")]
        ),
        PolicyMutation(
            "argon2id with 4 lanes",
            auth,
            replacing: "parallelism: 1",
            with: "parallelism: 4",
            [E(auth, "password.argon2id.parallelism", .invalidValue, "4 is not one of 1 (libsodium's crypto_pwhash implements p = 1 only)")]
        ),
        PolicyMutation(
            "a reset that skips the second factor",
            recovery,
            replacing: "require_second_factor: true",
            with: "require_second_factor: false",
            [
                E(
                    recovery,
                    "password_reset.require_second_factor",
                    .invalidValue,
                    "must be true: a password reset never bypasses the second factor (NIST SP 800-63B §6.1.2.3)"
                )
            ]
        ),
        PolicyMutation(
            "a high-risk action without four eyes",
            recovery,
            replacing: "    requires: {min_weight: 5, all_of: [], any_of: [recovery_code, id_document], machine_verified: true}\n    four_eyes: true",
            with: "    requires: {min_weight: 5, all_of: [], any_of: [recovery_code, id_document], machine_verified: true}\n    four_eyes: false",
            [
                E(
                    recovery,
                    "actions.reset_totp.four_eyes",
                    .invalidValue,
                    "must be true: reset_totp is a high-risk action and needs a supervisor's approval"
                )
            ]
        ),
        PolicyMutation(
            "an unknown check in a requirement",
            recovery,
            replacing: "any_of: [recovery_code, id_document]",
            with: "any_of: [recovery_code, passport]",
            [
                E(
                    recovery,
                    "actions.reset_totp.requires.any_of[1]",
                    .invalidValue,
                    "'passport' is not one of email_otp, sms_otp, totp, recovery_code, transaction_knowledge, id_document"
                )
            ]
        ),
        PolicyMutation(
            "a combination that lowers the decision",
            recovery,
            replacing: "      - rules: [impossible_travel, new_country]\n        decision: freeze",
            with: "      - rules: [impossible_travel, new_country]\n        decision: allow",
            [
                E(
                    recovery,
                    "suspicious_login.decision.combinations[0].decision",
                    .invalidValue,
                    "'allow' is not one of step_up, freeze: a combination can only raise the decision"
                )
            ]
        ),
        PolicyMutation(
            "plain http reset link",
            recovery,
            replacing: "https://wallet.example/reset?token={token}",
            with: "http://wallet.example/reset?token={token}",
            [
                E(
                    recovery,
                    "password_reset.link_template",
                    .invalidValue,
                    "'http://wallet.example/reset?token={token}' must be an https URL (http only for localhost)"
                )
            ]
        ),
        PolicyMutation(
            "a reset link without the token",
            recovery,
            replacing: "https://wallet.example/reset?token={token}",
            with: "https://wallet.example/reset",
            [E(recovery, "password_reset.link_template", .invalidValue, "'https://wallet.example/reset' must contain {token} exactly once")]
        ),
        PolicyMutation(
            "a label with an unknown placeholder",
            auth,
            replacing: "label_template: \"{issuer}:{subject}\"",
            with: "label_template: \"{issuer}:{user}\"",
            [
                E(
                    auth,
                    "totp.label_template",
                    .invalidValue,
                    "'{issuer}:{user}' uses unknown placeholder {user} (allowed: {issuer}, {subject})"
                )
            ]
        ),
        PolicyMutation(
            "an issuer with a colon",
            auth,
            replacing: "issuer: Vigil Wallet",
            with: "issuer: \"Vigil: Wallet\"",
            [E(auth, "totp.issuer", .invalidValue, "'Vigil: Wallet' must not contain a colon or a line break (Key Uri Format)")]
        ),
        PolicyMutation(
            "a blocklist path outside the folder",
            auth,
            replacing: "blocklist: common-passwords.txt",
            with: "blocklist: ../etc/passwords.txt",
            [E(auth, "password.blocklist", .invalidValue, "'../etc/passwords.txt' must be a file name in the policy folder, not a path")]
        ),
        PolicyMutation(
            "business hours",
            sla,
            replacing: "coverage: 24/7",
            with: "coverage: business_hours",
            [E(sla, "coverage", .invalidValue, "'business_hours' is not one of 24/7: SLA clocks never pause for nights or weekends")]
        ),
        PolicyMutation(
            "a time zone abbreviation",
            sla,
            replacing: "support_time_zone: Asia/Shanghai",
            with: "support_time_zone: CST",
            [E(sla, "support_time_zone", .invalidValue, "'CST' is not an IANA time zone name (e.g. Asia/Shanghai, Europe/Berlin, UTC)")]
        ),
        PolicyMutation(
            "a category the API does not know",
            sla,
            replacing: "    categories: [refund]",
            with: "    categories: [refunds]",
            [
                E(
                    sla,
                    "triage[5].categories[0]",
                    .invalidValue,
                    "'refunds' is not one of account_security, suspicious_login, password_reset, lost_2fa, transfer, refund, deposit_withdrawal, other"
                )
            ]
        ),
        PolicyMutation(
            "a channel listed twice",
            sla,
            replacing: "channels: [wechat, email, in_app, phone, api]",
            with: "channels: [wechat, email, in_app, phone, wechat]",
            [E(sla, "channels[4]", .invalidValue, "'wechat' is listed more than once")]
        ),
        PolicyMutation(
            "an audit origin with a scheme",
            audit,
            replacing: "origin: wallet.example/vigil/audit",
            with: "origin: https://wallet.example/vigil/audit",
            [
                E(
                    audit,
                    "origin",
                    .invalidValue,
                    "'https://wallet.example/vigil/audit' must be a schema-less URL, without '://' (C2SP tlog-checkpoint)"
                )
            ]
        ),

        // Cross-field rules.
        PolicyMutation(
            "max delay below base delay",
            auth,
            replacing: "    max_delay_seconds: 3600",
            with: "    max_delay_seconds: 10",
            [E(auth, "lockout.recovery_code.max_delay_seconds", .conflict, "10 is less than base_delay_seconds (60)")]
        ),
        PolicyMutation(
            "minimum above maximum",
            auth,
            replacing: "  min_length: 8\n",
            with: "  min_length: 200\n",
            [
                E(auth, "password.min_length", .conflict, "200 is greater than max_length (128)"),
                E(
                    auth,
                    "password.single_factor_min_length",
                    .conflict,
                    "15 is less than min_length (200): a password alone must not be shorter than one backed by a second factor"
                ),
            ]
        ),
        PolicyMutation(
            "single-factor minimum below the minimum",
            auth,
            replacing: "  min_length: 8\n",
            with: "  min_length: 16\n",
            [
                E(
                    auth,
                    "password.single_factor_min_length",
                    .conflict,
                    "15 is less than min_length (16): a password alone must not be shorter than one backed by a second factor"
                )
            ]
        ),
        PolicyMutation(
            "one argon2id pass at 19 MiB",
            auth,
            replacing: "iterations: 2",
            with: "iterations: 1",
            [
                E(
                    auth,
                    "password.argon2id.iterations",
                    .conflict,
                    "1 pass needs memory_kib of at least 47104, not 19456 (OWASP Password Storage Cheat Sheet); use 2 or more"
                )
            ]
        ),
        PolicyMutation(
            "free failures reaching the lock",
            auth,
            replacing: "  totp:\n    free_failures: 3",
            with: "  totp:\n    free_failures: 20",
            [E(auth, "lockout.totp.free_failures", .conflict, "20 must be less than max_consecutive_failures (20)")]
        ),
        PolicyMutation(
            "resend cooldown longer than the token lives",
            recovery,
            replacing: "resend_cooldown_seconds: 60",
            with: "resend_cooldown_seconds: 1800",
            [
                E(
                    recovery,
                    "password_reset.resend_cooldown_seconds",
                    .conflict,
                    "1800 is greater than token_ttl_seconds (900): an expired link could not be replaced"
                )
            ]
        ),
        PolicyMutation(
            "freeze threshold not above step-up",
            recovery,
            replacing: "freeze_at: 6",
            with: "freeze_at: 2",
            [E(recovery, "suspicious_login.decision.freeze_at", .conflict, "2 must be greater than step_up_at (2)")]
        ),
        PolicyMutation(
            "a requirement no checks can meet",
            recovery,
            replacing: "min_weight: 6,",
            with: "min_weight: 40,",
            [
                E(
                    recovery,
                    "actions.change_contact.requires.min_weight",
                    .conflict,
                    "40 cannot be reached: all verification_checks together weigh 13"
                )
            ]
        ),
        PolicyMutation(
            "a high-risk action that requires nothing",
            recovery,
            replacing: "min_weight: 4,",
            with: "min_weight: 0,",
            [E(recovery, "actions.unfreeze.requires.min_weight", .outOfRange, "0 is out of range (1…100, a high-risk action needs a check)")]
        ),
        PolicyMutation(
            "a less urgent priority with a tighter target",
            sla,
            replacing: "  P2:\n    first_response_minutes: 60",
            with: "  P2:\n    first_response_minutes: 10",
            [
                E(
                    sla,
                    "priorities.P2.first_response_minutes",
                    .conflict,
                    "10 is shorter than P1's (15): a less urgent priority must not have a tighter target"
                )
            ]
        ),
        PolicyMutation(
            "a look-back longer than the history kept",
            retention,
            replacing: "  login_history: 180",
            with: "  login_history: 30",
            [
                E(
                    recovery,
                    "suspicious_login.rules.new_device.lookback_days",
                    .conflict,
                    "90 is longer than retention.yaml after_event_days.login_history (30): that history is erased sooner"
                ),
                E(
                    recovery,
                    "suspicious_login.rules.new_country.lookback_days",
                    .conflict,
                    "90 is longer than retention.yaml after_event_days.login_history (30): that history is erased sooner"
                ),
            ]
        ),

        // Whole files.
        PolicyMutation(
            "an empty file",
            audit,
            replacing: PolicyFixtures.shippedText(audit),
            with: "",
            [E(audit, "", .syntax, "is empty")]
        ),
        PolicyMutation(
            "a list at the top",
            retention,
            replacing: PolicyFixtures.shippedText(retention),
            with: "- 90\n- 365\n",
            [E(retention, "", .wrongType, "expected a mapping, found a list")]
        ),
    ]

    @Test("one mutation gives exactly the expected issues", arguments: mutations)
    func mutation(_ mutation: PolicyMutation) throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(directory, mutation.file, replacing: mutation.old, with: mutation.new)

        let issues = PolicyFixtures.issues(loading: directory)
        #expect(issues.map(PolicyMutation.Expected.init) == mutation.expected)
    }

    @Test("the description names the file, the key path and the reason; the line points at the value")
    func description() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(
            directory,
            "authentication.yaml",
            replacing: "    max_consecutive_failures: 20\n  recovery_code:",
            with: "    max_consecutive_failures: 500\n  recovery_code:"
        )
        let issues = PolicyFixtures.issues(loading: directory)
        #expect(
            issues.map(\.description) == [
                "authentication.yaml: lockout.totp.max_consecutive_failures: 500 is out of range (1…100, NIST SP 800-63B §5.2.2)"
            ]
        )
        let line = try #require(issues.first?.line)
        let text = try String(contentsOf: directory.appendingPathComponent("authentication.yaml"), encoding: .utf8)
        #expect(text.components(separatedBy: "\n")[line - 1] == "    max_consecutive_failures: 500")
    }

    @Test("a YAML syntax error names its line")
    func syntaxError() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(directory, "sla.yaml", replacing: "default_priority: P3", with: "default_priority: [P3")

        let issues = PolicyFixtures.issues(loading: directory)
        #expect(issues.count == 1)
        let issue = try #require(issues.first)
        #expect(issue.file == "sla.yaml" && issue.keyPath.isEmpty && issue.kind == .syntax)
        #expect(issue.reason.hasPrefix("YAML syntax error at line "))
        #expect(issue.line != nil)
    }

    @Test("a duplicated key is a syntax error")
    func duplicateKey() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(directory, "audit.yaml", replacing: "  every_entries: 1000\n", with: "  every_entries: 1000\n  every_entries: 10\n")

        let issues = PolicyFixtures.issues(loading: directory)
        #expect(issues.map(\.kind) == [.syntax])
        #expect(issues.first?.reason.contains("duplicate key 'every_entries'") == true)
    }

    @Test("a file that is not UTF-8 is a syntax error")
    func notUTF8() throws {
        var files = try PolicyFixtures.shippedFiles()
        files["audit.yaml"]?.append(0xFF)
        #expect(
            throws: PolicyValidationFailure(issues: [PolicyIssue(file: "audit.yaml", keyPath: "", kind: .syntax, reason: "is not valid UTF-8 text")])
        ) {
            try PolicySet.load(files: files)
        }
    }

    @Test("a triage rule on a channel the desk does not offer could never match")
    func triageOnUnlistedChannel() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(
            directory,
            "sla.yaml",
            replacing: "channels: [wechat, email, in_app, phone, api]",
            with: "channels: [wechat, email, in_app, api]"
        )
        #expect(PolicyFixtures.issues(loading: directory).isEmpty, "no rule names phone yet")

        try PolicyFixtures.edit(
            directory,
            "sla.yaml",
            replacing: "    categories: [refund]\n",
            with: "    categories: [refund]\n    channels: [phone]\n"
        )
        #expect(
            PolicyFixtures.issues(loading: directory).map(\.description) == [
                "sla.yaml: triage[5].channels: 'phone' is not in channels, so the rule could never match it"
            ]
        )
    }

    @Test("a missing file and a misspelt file name are both reported")
    func missingAndUnexpectedFiles() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.moveItem(
            at: directory.appendingPathComponent("retention.yaml"),
            to: directory.appendingPathComponent("retention.yml")
        )

        let issues = PolicyFixtures.issues(loading: directory)
        #expect(
            issues.map(\.description) == [
                "retention.yml: is not a policy file (the policy files are authentication.yaml, recovery.yaml, sla.yaml, retention.yaml, audit.yaml)",
                "retention.yaml: file is missing",
            ]
        )
        #expect(issues.map(\.kind) == [.unexpectedFile, .missingFile])
    }

    @Test("a missing folder is one issue naming it")
    func missingFolder() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-no-such-\(UUID().uuidString)")
        let issues = PolicyFixtures.issues(loading: directory)
        #expect(issues.map(\.kind) == [.missingFile])
        #expect(issues.first?.file == directory.path)
    }

    @Test("several errors in several files are all reported, in file order")
    func severalErrors() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(directory, "sla.yaml", replacing: "coverage: 24/7", with: "coverage: business_hours")
        try PolicyFixtures.edit(directory, "authentication.yaml", replacing: "digits: 6", with: "digits: 7")
        try PolicyFixtures.edit(directory, "authentication.yaml", replacing: "memory_kib: 19456", with: "memory_kib: 1024")
        try PolicyFixtures.edit(directory, "authentication.yaml", replacing: "  max_length: 128\n", with: "  max_length: 128\n  max_lenght: 64\n")
        try PolicyFixtures.edit(directory, "audit.yaml", replacing: "every_seconds: 60", with: "every_seconds: -1")
        try PolicyFixtures.edit(directory, "recovery.yaml", replacing: "token_ttl_seconds: 900", with: "token_ttl_seconds: 15 minutes")

        let issues = PolicyFixtures.issues(loading: directory)
        #expect(
            issues.map(\.description) == [
                "authentication.yaml: password.argon2id.memory_kib: 1024 is out of range (19456…1048576, OWASP Password Storage Cheat Sheet)",
                "authentication.yaml: password.max_lenght: unknown key (did you mean 'max_length'?)",
                "authentication.yaml: totp.digits: 7 is not one of 6, 8 (RFC 4226 §5.3, RFC 6238)",
                "recovery.yaml: password_reset.token_ttl_seconds: expected an integer, found the string \"15 minutes\"",
                "sla.yaml: coverage: 'business_hours' is not one of 24/7: SLA clocks never pause for nights or weekends",
                "audit.yaml: checkpoint.every_seconds: -1 is out of range (1…86400)",
            ]
        )
    }
}

@Suite("Policy digest")
struct PolicyDigestTests {
    @Test("known answer for the documented byte layout")
    func knownAnswer() {
        var files: [String: [UInt8]] = [:]
        for name in PolicySet.fileNames {
            files[name] = Array("x".utf8)
        }
        // sha256("vigil-policy-set-v1\n" ‖ for each name: u32be(len) ‖ name ‖ u64be(1) ‖ "x"), computed with Python's hashlib.
        #expect(PolicySet.digest(of: files) == "527aad934be0a595a81c3f8b0eb6475ae6c111c02ac185daed6baad5ad85f0e9")
    }

    @Test("changing any byte of any file changes the digest", arguments: PolicySet.fileNames)
    func anyByteChangesDigest(_ file: String) throws {
        let files = try PolicyFixtures.shippedFiles()
        let original = PolicySet.digest(of: files)
        let bytes = try #require(files[file])
        for index in [0, bytes.count / 2, bytes.count - 1] {
            var changed = files
            changed[file]?[index] ^= 0x01
            #expect(PolicySet.digest(of: changed) != original, "byte \(index) of \(file)")
        }
    }

    @Test("a comment change keeps the policy but changes the digest")
    func commentChangesDigest() throws {
        let directory = try PolicyFixtures.copyOfShipped()
        defer { try? FileManager.default.removeItem(at: directory) }
        try PolicyFixtures.edit(directory, "audit.yaml", replacing: "# Allowed: 1…86400.", with: "# Allowed: 1 to 86400.")

        let original = try PolicySet.load(directory: PolicyFixtures.shippedDirectory)
        let edited = try PolicySet.load(directory: directory)
        #expect(edited.audit == original.audit)
        #expect(edited.digest != original.digest)
    }

    @Test("bytes moved from one file to the next change the digest (lengths frame each file)")
    func framing() {
        var files: [String: [UInt8]] = [:]
        for name in PolicySet.fileNames {
            files[name] = Array("ab".utf8)
        }
        var moved = files
        moved["authentication.yaml"] = Array("abab".utf8)
        moved["recovery.yaml"] = []
        #expect(PolicySet.digest(of: files) != PolicySet.digest(of: moved))
    }
}
