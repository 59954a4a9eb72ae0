/// Versioned schema migrations, applied in order inside one transaction each and recorded in
/// `schema_migrations`. Never edit a shipped migration: add a new one.
enum Migrations {
    static let all: [(version: Int, name: String, sql: String)] = [
        (
            1, "foundation",
            """
            CREATE TABLE keyring (
                purpose     TEXT    NOT NULL,
                version     INTEGER NOT NULL,
                wrapped     BLOB    NOT NULL,
                created_at  TEXT    NOT NULL,
                PRIMARY KEY (purpose, version)
            ) STRICT;

            CREATE TABLE subjects (
                id               TEXT PRIMARY KEY,
                email_ct         BLOB,
                phone_ct         BLOB,
                display_name_ct  BLOB,
                email_bidx       BLOB,
                phone_bidx       BLOB,
                created_at       TEXT NOT NULL,
                updated_at       TEXT NOT NULL
            ) STRICT;
            CREATE INDEX subjects_email_bidx ON subjects (email_bidx) WHERE email_bidx IS NOT NULL;
            CREATE INDEX subjects_phone_bidx ON subjects (phone_bidx) WHERE phone_bidx IS NOT NULL;

            CREATE TABLE api_keys (
                id           TEXT PRIMARY KEY,
                name         TEXT NOT NULL,
                secret_hash  BLOB NOT NULL,
                scopes       TEXT NOT NULL,
                created_at   TEXT NOT NULL,
                revoked_at   TEXT
            ) STRICT;

            -- The audit log: append-only. Triggers refuse UPDATE and DELETE, so no code path
            -- (and no mistaken query) can change history; the Merkle tree makes any change made
            -- behind SQLite's back detectable.
            CREATE TABLE audit_entries (
                seq        INTEGER PRIMARY KEY,
                entry      BLOB NOT NULL,
                leaf_hash  BLOB NOT NULL
            ) STRICT;
            CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
            BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
            CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
            BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
            """
        )
    ]
}
