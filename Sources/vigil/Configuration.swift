import Foundation
import Logging
import VigilDelivery

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Rules for settings (README.md, "Configuration"):
// - a flag wins over its environment variable, which wins over the default;
// - a value that is out of range, unparsable or empty is refused, never reinterpreted or
//   replaced by the default: one `vigil: error:` line that names the flag or the variable
//   and the allowed range or values, exit status 2;
// - an empty flag or environment variable is refused like any other bad value (unset the
//   variable to get the default): an empty `VIGIL_PORT=` is more likely a broken deployment
//   script than a wish for port 8080;
// - `serve` checks every setting, then that it can bind its address, before it creates,
//   opens or binds anything, so a refused start leaves nothing behind and nothing listening;
// - messages may quote a value the operator typed, but never the webhook URL (it may carry
//   credentials) and never a secret.

/// A setting refused at start. `message` follows the CLI message rules and names the flag or
/// the environment variable; exits with status 2.
struct ConfigurationError: Error, CustomStringConvertible {
    let message: String
    var hint: String?

    init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    var description: String { message }
}

/// One setting's value and where it came from (a flag, an environment variable, or the
/// default), so that a message can name what the operator has to change.
struct SettingValue {
    enum Origin {
        case flag(String)
        case environment(String)
        case defaultValue(flag: String?, variable: String?)
    }

    let text: String
    let origin: Origin

    /// The flag or variable to name in a message: `--port`, `VIGIL_PORT`, or for a default
    /// `--database (VIGIL_DATABASE)`.
    var name: String {
        switch origin {
        case .flag(let flag): flag
        case .environment(let variable): variable
        case .defaultValue(let flag?, let variable?): "\(flag) (\(variable))"
        case .defaultValue(let flag, let variable): flag ?? variable ?? "a setting"
        }
    }

    var isDefault: Bool {
        if case .defaultValue = origin { true } else { false }
    }

    /// The flag's value, else the variable's, else `defaultValue`. An empty flag or variable
    /// is refused.
    static func resolve(
        flag: String?,
        _ value: String?,
        variable: String?,
        default defaultValue: String
    ) throws(ConfigurationError) -> SettingValue {
        try resolve(flag: flag, value, variable: variable, default: Optional(defaultValue))
            ?? SettingValue(text: defaultValue, origin: .defaultValue(flag: flag, variable: variable))
    }

    /// The flag's value, else the variable's, else `defaultValue` (nil when there is none).
    /// An empty flag or variable is refused.
    static func resolve(
        flag: String?,
        _ value: String?,
        variable: String?,
        default defaultValue: String?
    ) throws(ConfigurationError) -> SettingValue? {
        if let flag, let value {
            guard !value.isEmpty else { throw ConfigurationError("\(flag) is empty") }
            return SettingValue(text: value, origin: .flag(flag))
        }
        if let variable, let value = env(variable) {
            guard !value.isEmpty else {
                throw ConfigurationError(
                    "\(variable) is set but empty: " + (defaultValue.map { "unset it to use the default \($0)" } ?? "unset it, or give it a value")
                )
            }
            return SettingValue(text: value, origin: .environment(variable))
        }
        return defaultValue.map { SettingValue(text: $0, origin: .defaultValue(flag: flag, variable: variable)) }
    }
}

enum Settings {
    static let portRange = 1...65535

    /// A TCP port: decimal digits only (no sign, no spaces), 1…65535. Port 0 ("any free port")
    /// is refused: a service's address must be known in advance.
    static func port(_ value: SettingValue) throws(ConfigurationError) -> Int {
        let digits = Array(value.text.utf8)
        guard (1...5).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }), let port = Int(value.text),
            portRange.contains(port)
        else {
            throw ConfigurationError(
                "\(value.name) must be a port number from \(portRange.lowerBound) to \(portRange.upperBound), not '\(printable(value.text))'"
            )
        }
        return port
    }

    /// An IPv4 address (dotted quad), an IPv6 address (without brackets), or a host name
    /// (RFC 1123: dot-separated labels of letters, digits and inner hyphens, at most 63
    /// characters each and 253 in all, not all digits at the end, which would be a malformed
    /// IPv4 address).
    static func host(_ value: SettingValue) throws(ConfigurationError) -> String {
        let text = value.text
        guard isIPAddress(text) || isHostName(text) else {
            throw ConfigurationError("\(value.name) must be an IP address or a host name, not '\(printable(text))'")
        }
        return text
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    static func isHostName(_ text: String) -> Bool {
        var name = Substring(text)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        func isAlphanumeric(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
        for label in labels {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count), isAlphanumeric(bytes[0]), isAlphanumeric(bytes[bytes.count - 1]),
                bytes.allSatisfy({ isAlphanumeric($0) || $0 == 0x2D })
            else { return false }
        }
        // "1.2.3" or "256.0.0.1" would be read by getaddrinfo as an address (or refused): a
        // name's last label is never all digits.
        return !(labels.last?.utf8.allSatisfy { (0x30...0x39).contains($0) } ?? true)
    }

    /// `VIGIL_LOG_LEVEL`: one of swift-log's level names.
    static func logLevel(_ value: SettingValue) throws(ConfigurationError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: value.text) else {
            let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError("\(value.name) must be one of \(names), not '\(printable(value.text))'")
        }
        return level
    }

    /// The webhook URL: `https://` with a host (and a port, if any, in 1…65535), or `http://`
    /// to a loopback host. The URL itself is never quoted back.
    static func webhookURL(_ value: SettingValue) throws(ConfigurationError) -> String {
        do {
            try WebhookChannel.validate(url: value.text)
        } catch OutboxConfigurationError.insecureURL {
            throw ConfigurationError("\(value.name) must be https (http only to localhost, 127.0.0.1 or ::1)")
        } catch {
            throw ConfigurationError("\(value.name) must be an http(s) URL with a host")
        }
        if let port = URLComponents(string: value.text)?.port, !portRange.contains(port) {
            throw ConfigurationError("\(value.name) must be an http(s) URL with a host and, if any, a port from 1 to 65535")
        }
        return value.text
    }

    /// A value made safe to quote on one line: control characters escaped, at most 80
    /// characters.
    static func printable(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }
            .joined()
        return escaped.count > 80 ? String(escaped.prefix(80)) + "…" : escaped
    }
}

/// Checks on paths, made before anything is created: they name the setting and the path.
enum PathCheck {
    enum Kind { case directory, regularFile, missing, other }

    static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regularFile
        default: return .other
        }
    }

    /// A folder that must exist (the policies).
    static func existingFolder(_ value: SettingValue, what: String) throws(ConfigurationError) {
        switch kind(value.text) {
        case .directory:
            guard access(value.text, R_OK | X_OK) == 0 else { throw ConfigurationError("\(value.name): cannot read \(what) \(value.text)") }
        case .missing: throw ConfigurationError("\(value.name): \(what) \(value.text) does not exist")
        default: throw ConfigurationError("\(value.name): \(what) \(value.text) is not a directory")
        }
    }

    /// A folder that exists, or can be created: its nearest existing ancestor is a writable
    /// directory.
    static func creatableFolder(_ value: SettingValue, what: String) throws(ConfigurationError) {
        if let problem = folderProblem(value.text) {
            throw ConfigurationError(
                "\(value.name): "
                    + (problem.isItself ? "\(what) \(value.text) \(problem.text)" : "cannot create \(what) \(value.text): \(problem.text)")
            )
        }
    }

    /// Why the folder `path` cannot be used or created, if it cannot: `isItself` when `path`
    /// itself is the problem, else `text` names the ancestor in the way.
    static func folderProblem(_ path: String) -> (text: String, isItself: Bool)? {
        var candidate = path.isEmpty ? "." : path
        while true {
            switch kind(candidate) {
            case .directory:
                guard access(candidate, W_OK | X_OK) == 0 else {
                    return candidate == path ? ("is not writable", true) : ("\(candidate) is not writable", false)
                }
                return nil
            case .missing:
                // The current folder itself gone: nothing to check against; the creation says why.
                if candidate == "." { return nil }
                let parent = (candidate as NSString).deletingLastPathComponent
                candidate = parent.isEmpty ? "." : parent
            default:
                return candidate == path ? ("is not a directory", true) : ("\(candidate) is not a directory", false)
            }
        }
    }

    /// The database file: absent (created, with its folder), or a regular file that can be
    /// read and written.
    static func databaseFile(_ value: SettingValue) throws(ConfigurationError) {
        switch kind(value.text) {
        case .missing:
            if let problem = folderProblem((value.text as NSString).deletingLastPathComponent) {
                let folder = (value.text as NSString).deletingLastPathComponent
                throw ConfigurationError(
                    "\(value.name): cannot create the database \(value.text): " + (problem.isItself ? "\(folder) \(problem.text)" : problem.text)
                )
            }
        case .regularFile:
            guard access(value.text, R_OK | W_OK) == 0 else {
                throw ConfigurationError("\(value.name): cannot open the database \(value.text): it is not readable and writable")
            }
        default:
            throw ConfigurationError("\(value.name): cannot open the database \(value.text): it is not a regular file")
        }
    }

    /// Creates the folder `path` and its missing ancestors (as `mkdir -p`, mode 0777 less the
    /// umask); returns why not, in the C library's words, if it cannot.
    static func createFolders(_ path: String) -> String? {
        guard !path.isEmpty, kind(path) != .directory else { return nil }
        if let problem = createFolders((path as NSString).deletingLastPathComponent) { return problem }
        guard mkdir(path, 0o777) == 0 || errno == EEXIST else { return ListenCheck.sentence(String(cString: strerror(errno))) }
        return nil
    }

    /// A file that must be readable (the OpenAPI document, when given).
    static func readableFile(_ value: SettingValue, what: String) throws(ConfigurationError) {
        guard kind(value.text) == .regularFile, access(value.text, R_OK) == 0 else {
            throw ConfigurationError(
                kind(value.text) == .missing
                    ? "\(value.name): \(what) \(value.text) does not exist" : "\(value.name): cannot read \(what) \(value.text)"
            )
        }
    }
}

/// The listen address, checked before anything starts: binds it the way the server will (the
/// first address the host resolves to, `SO_REUSEADDR`) and releases it at once. A port in use,
/// an address that is not this machine's, a privileged port or a host that does not resolve
/// is refused with the address and the port in the message.
enum ListenCheck {
    static func display(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func check(host: String, port: Int) throws(ConfigurationError) {
        let address = display(host: host, port: port)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ConfigurationError("cannot listen on \(address): \(sentence(String(cString: gai_strerror(rc))))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw ConfigurationError("cannot listen on \(address): \(sentence(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw ConfigurationError("cannot listen on \(address): \(sentence(String(cString: strerror(errno))))")
        }
    }

    /// A C library message as a clause: lower-case first letter, no trailing period.
    static func sentence(_ text: String) -> String {
        var text = text
        if text.hasSuffix(".") { text.removeLast() }
        guard let first = text.first else { return text }
        return first.lowercased() + text.dropFirst()
    }
}
