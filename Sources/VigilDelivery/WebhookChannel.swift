import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import VigilCore
import VigilCrypto

/// Problems with the outbox's configuration, found at start. Messages name the setting or the
/// path, never the secret.
public enum OutboxConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidURL
    case insecureURL
    case missingSecret
    case notADirectory(path: String)

    public var description: String {
        switch self {
        case .invalidURL: "VIGIL_WEBHOOK_URL is not an http(s) URL with a host"
        case .insecureURL: "VIGIL_WEBHOOK_URL must be https (http only for localhost, 127.0.0.1 or ::1)"
        case .missingSecret: "VIGIL_WEBHOOK_URL is set but VIGIL_WEBHOOK_SECRET_FILE is not"
        case .notADirectory(let path): "\(path) (the outbox folder) is not a directory"
        }
    }
}

/// The `webhook` channel: an HTTP POST of the message body to the wallet backend.
///
/// | header             | value |
/// |--------------------|-------|
/// | `Content-Type`     | `application/json` |
/// | `Vigil-Message-Id` | the message id, the same on every attempt (signed) |
/// | `Vigil-Timestamp`  | the attempt's time, Unix seconds (signed) |
/// | `Vigil-Signature`  | `v2=` hex HMAC-SHA256(secret, `"v2:<message id>.<timestamp>.<body>"`) (`WebhookSignature`) |
/// | `Vigil-Attempt`    | the attempt's number, 1-based (informative, not signed) |
///
/// Rules:
/// - a 2xx status is the acknowledgement; any other status, a timeout (`timeoutSeconds` for the
///   whole exchange) or a connection failure is a failed attempt, retried with the policy's
///   backoff;
/// - redirects are not followed (a 3xx is a failure): a signed message with personal data goes
///   only to the configured URL;
/// - https only, except to a loopback host; the response body is read and discarded, never
///   logged or recorded.
public final class WebhookChannel: DeliveryChannel {
    public let channel = OutboundMessage.Channel.webhook
    public let url: String
    let secret: SecretBytes
    let timeout: TimeAmount
    let client: HTTPClient

    /// Checks `url` (https, or http to a loopback host) and makes a client that does not follow
    /// redirects. Call `shutdown()` when done.
    public init(url: String, secret: SecretBytes, timeoutSeconds: Int64 = 10) throws {
        try Self.validate(url: url)
        self.url = url
        self.secret = secret
        self.timeout = .seconds(timeoutSeconds)
        self.client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(min(timeoutSeconds, 5)), read: .seconds(timeoutSeconds))
            )
        )
    }

    /// Accepts `https://host…`, and `http://` only to localhost, 127.0.0.1 or ::1.
    public static func validate(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty, ["http", "https"].contains(scheme)
        else { throw OutboxConfigurationError.invalidURL }
        if scheme == "http" && !["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased()) {
            throw OutboxConfigurationError.insecureURL
        }
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func deliver(_ attempt: DeliveryAttempt) async throws {
        let timestamp = Int64(attempt.time.timeIntervalSince1970.rounded(.down))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "vigil-outbox/1")
        let signed: [(name: String, value: String)]
        do {
            signed = try WebhookSignature.headers(secret: secret, messageID: attempt.message.id, timestamp: timestamp, body: attempt.body)
        } catch is WebhookSignature.SigningError {
            // Only an id Vigil did not make (the store refuses those) or a clock before 1970.
            throw DeliveryFailure("unsignable")
        }
        for header in signed { request.headers.add(name: header.name, value: header.value) }
        request.headers.add(name: "Vigil-Attempt", value: String(attempt.number))
        request.body = .bytes(ByteBuffer(bytes: attempt.body))
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = response.status.code
            // Drain (and discard) the body so the connection can be reused; its content is
            // never read, logged or stored.
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout,
                .getConnectionFromPoolTimeout:
                throw DeliveryFailure.timeout
            default:
                throw DeliveryFailure.connectionFailed
            }
        } catch is CancellationError {
            throw DeliveryFailure("cancelled")
        } catch {
            throw DeliveryFailure.connectionFailed
        }
        guard (200..<300).contains(status) else { throw DeliveryFailure.httpStatus(Int(status)) }
    }
}
