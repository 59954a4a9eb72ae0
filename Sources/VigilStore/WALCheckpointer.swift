import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints the WAL beside the writer instead of inside its commits.
///
/// SQLite's default runs a checkpoint inside the `COMMIT` that takes the WAL past 1000 pages:
/// it copies the pages and syncs the WAL and the database, on the one thread every write waits
/// for — measured here at 10–40 ms a time, many times a second under load. Instead the writer
/// connection reports its WAL size after each commit (`SQLiteConnection.setWALHook`), and a
/// thread of this object runs passive checkpoints on its own connection. Passive means it never
/// waits for, nor blocks, readers or the writer.
///
/// Rules:
/// - durability is unchanged: with `synchronous=NORMAL` the WAL is synced at checkpoints, as
///   before, and a commit is acknowledged no earlier than before;
/// - a background checkpoint starts once `afterPages` frames have been written since the last
///   one copied (not after every commit past the threshold: each run syncs both files);
/// - SQLite starts the WAL again from its beginning only at a write that begins when every
///   frame has been copied, which a steady stream of writes never allows. So once the WAL has
///   `restartAfterPages` the writer checkpoints inline, right after a background run has left
///   at most `restartTail` frames to copy, and unconditionally at `maxPages`: the WAL stays
///   bounded, and the writer pays for the syncs once every `restartAfterPages` pages instead
///   of every 1000;
/// - the thread runs at nice 10, like the argon2id workers: request handling comes first.
final class WALCheckpointer: WALHookTarget, @unchecked Sendable {
    // @unchecked Sendable: `wanted`, `stopping` and `copied` are guarded by `condition`;
    // `connection` is touched only on the checkpoint thread; `lastPages` only on the writer's.
    private let path: String
    private let condition = NSCondition()
    private var wanted = false
    private var stopping = false
    private var running = false
    /// WAL frames copied by the last background checkpoint.
    private var copied = 0
    private var connection: SQLiteConnection?
    private var thread: Thread?

    /// Frames written since the last copy after which a background checkpoint runs.
    let afterPages: Int
    /// WAL size from which the writer looks for a moment to let the WAL start again.
    let restartAfterPages: Int
    /// Frames left to copy that the writer's own checkpoint takes on.
    let restartTail: Int
    /// WAL size at which the writer checkpoints whatever is left.
    let maxPages: Int
    /// The writer connection, for its own checkpoints; set once the hook is installed.
    private unowned(unsafe) var writer: SQLiteConnection?
    /// The WAL size after the last commit (writer thread only; tests read it).
    private(set) var lastPages = 0

    init(path: String, afterPages: Int = 1000, restartAfterPages: Int = 32_768, restartTail: Int = 512, maxPages: Int = 131_072) {
        self.path = path
        self.afterPages = afterPages
        self.restartAfterPages = restartAfterPages
        self.restartTail = restartTail
        self.maxPages = maxPages
    }

    /// Takes over `writer`'s checkpoints.
    func install(on writer: SQLiteConnection) {
        self.writer = writer
        writer.setWALHook(self)
    }

    /// Called by SQLite on the writer's thread after each commit, with the write lock released.
    override func walCommitted(pages: Int) {
        lastPages = pages
        guard pages >= afterPages else { return }
        condition.lock()
        // A WAL shorter than what was copied has started again from its beginning.
        if pages < copied { copied = 0 }
        let left = pages - copied
        let restart = pages >= maxPages || (pages >= restartAfterPages && left <= restartTail && !running)
        // Past the restart size, keep the background copy close behind so the tail stays short.
        if !restart && !stopping && left >= (pages >= restartAfterPages ? restartTail : afterPages) {
            wanted = true
            startThreadIfNeeded()
            condition.signal()
        }
        condition.unlock()
        if restart, let writer { _ = try? writer.checkpointPassive() }
    }

    /// Called on the writer's thread when it has no more work: frames left to copy are copied
    /// now, so that the next write, if it comes after, starts the WAL again from its beginning
    /// (under a light load the WAL then stays near `afterPages`, as with SQLite's own checkpoint).
    func writerIdle() {
        let pages = lastPages
        guard pages >= afterPages else { return }
        condition.lock()
        if pages > copied && !stopping && !running {
            wanted = true
            startThreadIfNeeded()
            condition.signal()
        }
        condition.unlock()
    }

    /// Stops the thread after the checkpoint in progress and closes its connection: the store
    /// calls this when it closes, so that no connection of it outlives it (the last one to close
    /// a database checkpoints it and removes the WAL, holding it locked meanwhile).
    func close() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while thread != nil { condition.wait() }
        condition.unlock()
    }

    /// Under `condition`.
    private func startThreadIfNeeded() {
        guard thread == nil else { return }
        let t = Thread { [self] in work() }
        t.name = "vigil.sqlite.checkpoint"
        thread = t
        t.start()
    }

    private func work() {
        #if os(Linux)
        // `who` 0 is the calling thread: on Linux the nice value is per thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
        condition.lock()
        while true {
            while !wanted && !stopping { condition.wait() }
            if stopping { break }
            wanted = false
            running = true
            condition.unlock()
            let done = checkpoint()
            condition.lock()
            running = false
            if let done { copied = done }
        }
        connection = nil
        thread = nil
        condition.broadcast()
        condition.unlock()
    }

    /// A passive checkpoint on this object's connection; the frames copied, nil on failure (the
    /// next commit asks again, and the writer's own checkpoint at `maxPages` bounds the WAL).
    private func checkpoint() -> Int? {
        do {
            if connection == nil {
                let conn = try SQLiteConnection(path: path)
                try conn.exec("PRAGMA busy_timeout = 5000")
                // A connection that has not read the database yet does not know it is in WAL
                // mode, and its checkpoint would do nothing.
                _ = try conn.queryOne("SELECT count(*) FROM sqlite_master", [], { $0.int(0) })
                connection = conn
            }
            return try connection?.checkpointPassive().checkpointed
        } catch {
            connection = nil
            return nil
        }
    }
}
