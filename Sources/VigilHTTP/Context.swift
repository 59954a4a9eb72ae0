import Hummingbird
import Logging
import NIOCore
import VigilCore

/// The request context: Hummingbird's core storage plus Vigil's request id and the peer
/// address (hashed before it reaches the audit log, never logged).
public struct VigilRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Vigil's request id: on every response (`X-Request-Id`), every log line and every audit entry.
    public var requestID: String
    /// The peer's IP address, when the transport knows it.
    public let remoteIP: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = RequestIDs.make()
        self.remoteIP = source.channel.remoteAddress?.ipAddress
    }

    public var requestInfo: RequestInfo { RequestInfo(requestID: requestID, sourceIP: remoteIP) }
}

enum RequestIDs {
    /// `req_` and 16 random hex characters.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let n = generator.next() as UInt64
        let hex = String(n, radix: 16)
        return "req_" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
