import Foundation
import Testing
import VigilCore
import VigilDelivery
import VigilStore
import VigilTestSupport

@Suite("File channel")
struct FileChannelTests {
    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("each message becomes one JSON line carrying its id, in a 0600 file in a 0700 folder")
    func oneLinePerMessage() async throws {
        let f = try DeliveryFixture()
        f.clock.set(Date(timeIntervalSince1970: 1_234_567_890))  // far from midnight: one file per test
        let folder = f.dir.file("outbox")
        let channel = try FileChannel(directory: folder)
        let messages = try await f.enqueue(5, channel: .file)
        let report = try await f.worker([channel]).runOnce(now: f.clock.now())
        #expect(report.delivered == 5)
        let path = channel.path(for: f.clock.now())
        let written = try lines(path)
        #expect(written.last == "", "the file ends with a newline")
        let objects = try written.dropLast().map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(Set(objects.compactMap { $0["id"] as? String }) == Set(messages.map(\.id)))
        // Each line is exactly the message's body (what a webhook receiver would get).
        #expect(Set(written.dropLast()) == Set(messages.map { String(decoding: $0.body(), as: UTF8.self) }))
        let fileMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        let folderMode = try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int
        #expect(fileMode == 0o600 && folderMode == 0o700)
        #expect(try await f.statuses(messages).allSatisfy { $0.state == .delivered })
    }

    @Test("a line cut short by a crash is closed before the next one, so a reader loses only that line")
    func tornLineIsClosed() async throws {
        let f = try DeliveryFixture()
        f.clock.set(Date(timeIntervalSince1970: 1_234_567_890))  // far from midnight: one file per test
        let channel = try FileChannel(directory: f.dir.file("outbox"))
        let path = channel.path(for: f.clock.now())
        _ = FileManager.default.createFile(atPath: path, contents: Data(#"{"id":"msg_torn","kin"#.utf8), attributes: [.posixPermissions: 0o600])
        let messages = try await f.enqueue(1, channel: .file)
        _ = try await f.worker([channel]).runOnce(now: f.clock.now())
        let written = try lines(path)
        #expect(written == [#"{"id":"msg_torn","kin"#, String(decoding: messages[0].body(), as: UTF8.self), ""])
    }

    @Test("a crash between the fsync and the mark appends the line again with the same id (at least once)")
    func atLeastOnceWindow() async throws {
        let f = try DeliveryFixture()
        f.clock.set(Date(timeIntervalSince1970: 1_234_567_890))  // far from midnight: one file per test
        let channel = try FileChannel(directory: f.dir.file("outbox"))
        let messages = try await f.enqueue(1, channel: .file)
        // What a worker that dies right after the fsync leaves behind: the line written, the
        // claim held, the store not told.
        let claimed = try await f.store.write { tx in
            try tx.claimOutboxMessages(channels: [.file], now: f.clock.now(), leaseUntil: f.clock.now().addingTimeInterval(30), limit: 8)
        }
        try await channel.deliver(DeliveryAttempt(message: claimed[0].message, body: claimed[0].message.body(), number: 1, time: f.clock.now()))
        // After the lease lapses another worker tries again.
        f.clock.advance(seconds: 30)
        let report = try await f.worker([channel]).runOnce(now: f.clock.now())
        #expect(report.delivered == 1)
        let ids = try lines(channel.path(for: f.clock.now())).dropLast().map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String
        }
        #expect(ids == [messages[0].id, messages[0].id], "the same id twice: a reader dedupes by id")
        #expect(try await f.statuses(messages).first?.attempts == 2)
    }
}
