import Foundation

/// Checkpoints the WAL beside the writer instead of inside its commits.
///
/// SQLite's default runs a checkpoint in the `COMMIT` that takes the WAL past 1000 pages:
/// copying the pages and two `fdatasync`s, on the one thread every write waits for. Here the
/// writer connection only reports its WAL size after each commit (`SQLiteConnection.setWALHook`)
/// and this object runs a passive checkpoint on its own connection and queue. Passive means it
/// never waits for, nor blocks, readers or the writer; SQLite restarts the WAL from its start at
/// the next write once every frame has been copied.
///
/// Rules:
/// - durability is unchanged: with `synchronous=NORMAL` the WAL is synced at checkpoints, as
///   before, and a commit is never acknowledged earlier than before;
/// - SQLite restarts the WAL only at a write that begins when every frame has been copied. Under
///   a steady stream of writes the background checkpoint trails the writer by the frames of the
///   last few commits, so the writer checkpoints inline once the WAL passes `inlineAfterPages`
///   (by then it copies only that tail): the WAL stays bounded, and the writer pays for the
///   checkpoint's syncs once every `inlineAfterPages` pages instead of every 1000.
final class WALCheckpointer: WALHookTarget, @unchecked Sendable {
    // @unchecked Sendable: `scheduled` is guarded by `lock`; `connection` is touched only on `queue`.
    private let path: String
    private let queue = DispatchQueue(label: "vigil.sqlite.checkpoint", qos: .utility)
    private let lock = NSLock()
    private var scheduled = false
    private var closed = false
    private var connection: SQLiteConnection?
    /// WAL size (pages) after which a commit asks for a background checkpoint: SQLite's default.
    let afterPages: Int
    /// WAL size (pages) after which the writer checkpoints in its own commit.
    let inlineAfterPages: Int
    /// The writer connection, for the inline fallback; set once the hook is installed.
    private unowned(unsafe) var writer: SQLiteConnection?
    /// The WAL size reported after the last commit (writer thread only; tests read it).
    private(set) var lastPages = 0

    init(path: String, afterPages: Int = 1000, inlineAfterPages: Int = 8000) {
        self.path = path
        self.afterPages = afterPages
        self.inlineAfterPages = inlineAfterPages
    }

    /// Takes over `writer`'s checkpoints.
    func install(on writer: SQLiteConnection) {
        self.writer = writer
        writer.setWALHook(self)
    }

    /// Called by SQLite on the writer's thread after each commit.
    override func walCommitted(pages: Int) {
        lastPages = pages
        if pages >= inlineAfterPages, let writer {
            _ = try? writer.checkpointPassive()
            return
        }
        guard pages >= afterPages else { return }
        let start: Bool = lock.withLock {
            if scheduled || closed { return false }
            scheduled = true
            return true
        }
        if start { queue.async { self.run() } }
    }

    /// Waits for a checkpoint in progress and closes the connection: the store calls this
    /// when it closes, so that no connection of it outlives it (the last one to close a
    /// database checkpoints it and removes the WAL, and would hold it locked meanwhile).
    func close() {
        lock.withLock { closed = true }
        queue.sync { connection = nil }
    }

    private func run() {
        defer { lock.withLock { scheduled = false } }
        guard !lock.withLock({ closed }) else { return }
        do {
            if connection == nil {
                let conn = try SQLiteConnection(path: path)
                try conn.exec("PRAGMA busy_timeout = 5000")
                // A connection that has not read the database yet does not know it is in WAL
                // mode, and its checkpoint would do nothing.
                _ = try conn.queryOne("SELECT count(*) FROM sqlite_master", [], { $0.int(0) })
                connection = conn
            }
            try connection?.checkpointPassive()
        } catch {
            // The next commit past the threshold tries again; the inline fallback bounds the WAL.
            connection = nil
        }
    }
}
