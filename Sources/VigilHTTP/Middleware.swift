import Foundation
import HTTPTypes
import Hummingbird
import Logging
import VigilCore

/// Outermost middleware: request id, error mapping, security headers, one access-log line.
///
/// The access log carries method, matched route pattern (not the raw path, which holds
/// subject ids), status, duration and request id — never headers, query strings or bodies.
struct VigilMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext

    /// The router's routes: a known path with another method is 405 with `Allow`.
    let routes: RouteIndex

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.cacheControl, "no-store"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
        (HTTPField.Name("Content-Security-Policy")!, "default-src 'none'; frame-ancestors 'none'"),
    ]
    static let requestIDHeader = HTTPField.Name("X-Request-Id")!

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var context = context
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        context.logger[metadataKey: "hb.request.id"] = nil
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // No route for this method: a known path with another method is 405, with what it
            // allows (a handler's own 404 is on a path that serves this method).
            let allowed = routes.methods(at: request.uri.path)
            if allowed.isEmpty || allowed.contains(request.method.rawValue) {
                response = ErrorMapping.response(for: ErrorMapping.map(error)!, requestID: context.requestID)
            } else {
                var mapped = MappedError(
                    status: .methodNotAllowed,
                    code: "method_not_allowed",
                    message: "this path does not take \(request.method.rawValue); see the Allow header",
                    field: nil
                )
                mapped.headers[.allow] = allowed.joined(separator: ", ")
                response = ErrorMapping.response(for: mapped, requestID: context.requestID)
            }
        } catch {
            if case VigilError.dataIntegrity(let reason) = error {
                // The reason names a table and column, never a value.
                context.logger.error("data integrity failure", metadata: ["reason": .string(reason)])
            }
            if let mapped = ErrorMapping.map(error) {
                response = ErrorMapping.response(for: mapped, requestID: context.requestID)
            } else {
                context.logger.error("unhandled error", metadata: ["error_type": .string(String(reflecting: type(of: error)))])
                response = ErrorMapping.response(
                    for: MappedError(status: .internalServerError, code: "internal_error", message: "internal error", field: nil),
                    requestID: context.requestID
                )
            }
        }
        for (name, value) in Self.securityHeaders where response.headers[name] == nil {
            response.headers[name] = value
        }
        response.headers[Self.requestIDHeader] = context.requestID
        let elapsed = ContinuousClock.now - start
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "route": .string(context.endpointPath ?? "(unmatched)"),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(
                    String(format: "%.2f", Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                ),
            ]
        )
        return response
    }
}
