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
                time       TEXT NOT NULL,  -- a copy of the entry's time, for range exports
                entry      BLOB NOT NULL,  -- the canonical bytes, verbatim
                leaf_hash  BLOB NOT NULL
            ) STRICT;
            CREATE INDEX audit_entries_time ON audit_entries (time);
            CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
            BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
            CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
            BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;

            -- The Merkle tree's compact range after the last entry (one row), so an append is
            -- O(log n) and never re-reads the log.
            CREATE TABLE audit_state (
                id     INTEGER PRIMARY KEY CHECK (id = 1),
                size   INTEGER NOT NULL,
                tree   BLOB    NOT NULL
            ) STRICT;

            -- Signed checkpoints (C2SP signed notes), append-only like the entries.
            CREATE TABLE audit_checkpoints (
                size        INTEGER PRIMARY KEY,
                note        TEXT NOT NULL,
                created_at  TEXT NOT NULL
            ) STRICT;
            CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            """
        ),
        (
            2, "second factors",
            """
            -- An enrolment waits here until a valid code activates it; the active secret (if any)
            -- stays in totp_credentials until then, so re-enrolment never locks anyone out.
            CREATE TABLE totp_enrolments (
                subject_id  TEXT PRIMARY KEY REFERENCES subjects (id),
                secret_ct   BLOB    NOT NULL,
                algorithm   TEXT    NOT NULL,
                digits      INTEGER NOT NULL,
                period      INTEGER NOT NULL,
                created_at  TEXT    NOT NULL
            ) STRICT;

            -- last_step: the last accepted time step; a code at or before it is never accepted.
            CREATE TABLE totp_credentials (
                subject_id    TEXT PRIMARY KEY REFERENCES subjects (id),
                secret_ct     BLOB    NOT NULL,
                algorithm     TEXT    NOT NULL,
                digits        INTEGER NOT NULL,
                period        INTEGER NOT NULL,
                last_step     INTEGER,
                activated_at  TEXT    NOT NULL
            ) STRICT;

            -- Consecutive failures per subject and factor (password, totp, recovery_code).
            -- locked_until NULL: not locked; 'indefinite': until an agent or recovery unlocks it.
            CREATE TABLE factor_failures (
                subject_id    TEXT    NOT NULL REFERENCES subjects (id),
                factor        TEXT    NOT NULL,
                consecutive   INTEGER NOT NULL,
                locked_until  TEXT,
                PRIMARY KEY (subject_id, factor)
            ) STRICT;

            -- Recovery codes as keyed hashes (BLAKE2b under the blind-index key); single use.
            CREATE TABLE recovery_codes (
                subject_id  TEXT NOT NULL REFERENCES subjects (id),
                code_hash   BLOB NOT NULL,
                set_id      TEXT NOT NULL,
                created_at  TEXT NOT NULL,
                used_at     TEXT,
                PRIMARY KEY (subject_id, code_hash)
            ) STRICT;

            -- Fixed-window request counters (rate limits that hold across instances).
            CREATE TABLE rate_counters (
                key           TEXT    PRIMARY KEY,
                window_start  INTEGER NOT NULL,
                count         INTEGER NOT NULL
            ) STRICT;
            """
        ),
        (
            3, "passwords",
            """
            -- Password verifiers: argon2id strings in libsodium's format ($argon2id$v=19$m=…,t=…,p=1$…),
            -- which carry their own salt and cost, so a hash made under an older policy still verifies
            -- (and is replaced on the next successful verify). A slow salted hash, not personal data.
            CREATE TABLE passwords (
                subject_id  TEXT PRIMARY KEY REFERENCES subjects (id),
                hash        TEXT NOT NULL CHECK (substr(hash, 1, 10) = '$argon2id$'),
                created_at  TEXT NOT NULL,
                updated_at  TEXT NOT NULL
            ) STRICT;
            """
        ),
        (
            4, "outbox",
            """
            -- The transactional outbox: one row per message, inserted in the transaction of the
            -- change that causes it. recipient_ct and payload_ct are personal data (a contact
            -- address, a reset link), sealed and bound to (outbox_messages, column, id); they are
            -- set to NULL after retention (outbox_messages days after finished_at).
            -- status: pending until delivered (acknowledged) or abandoned (no attempt left).
            -- attempts counts attempts started; claim_token and lease_until hold a message for the
            -- worker making an attempt; next_attempt_at is when a pending message is due.
            CREATE TABLE outbox_messages (
                seq              INTEGER PRIMARY KEY,
                id               TEXT    NOT NULL UNIQUE,
                subject_id       TEXT    NOT NULL,
                kind             TEXT    NOT NULL,
                channel          TEXT    NOT NULL,
                recipient_ct     BLOB,
                payload_ct       BLOB,
                status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
                attempts         INTEGER NOT NULL DEFAULT 0,
                created_at       TEXT    NOT NULL,
                next_attempt_at  TEXT,
                claim_token      TEXT,
                lease_until      TEXT,
                last_attempt_at  TEXT,
                last_error       TEXT,
                finished_at      TEXT,
                CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL AND finished_at IS NULL))
            ) STRICT;
            CREATE INDEX outbox_messages_due ON outbox_messages (next_attempt_at) WHERE status = 'pending';
            CREATE INDEX outbox_messages_subject ON outbox_messages (subject_id, seq);
            CREATE INDEX outbox_messages_retention ON outbox_messages (finished_at) WHERE payload_ct IS NOT NULL;
            """
        ),
        (
            5, "suspicious logins",
            """
            -- Suspicious-login reports. ip, user agent, device id and reason are encrypted (bound to
            -- table, column and report id); device_bidx is a keyed hash of subject and device id, so
            -- the new-device rule is a comparison, not a decryption. country (ISO alpha-2) and
            -- occurred_at are in the clear: the rules query them per subject, and neither alone
            -- identifies a person.
            CREATE TABLE login_reports (
                id             TEXT    PRIMARY KEY,
                subject_id     TEXT    NOT NULL REFERENCES subjects (id),
                occurred_at    TEXT    NOT NULL,
                country        TEXT    NOT NULL,
                source         TEXT    NOT NULL,
                ip_ct          BLOB    NOT NULL,
                user_agent_ct  BLOB    NOT NULL,
                device_id_ct   BLOB    NOT NULL,
                device_bidx    BLOB    NOT NULL,
                reason_ct      BLOB,
                decision       TEXT    NOT NULL,
                score          INTEGER NOT NULL,
                rules          TEXT    NOT NULL,
                reported_at    TEXT    NOT NULL
            ) STRICT;
            CREATE INDEX login_reports_subject ON login_reports (subject_id, occurred_at);

            -- Idempotency-Key records, per API key and operation: the body's keyed hash and what it
            -- created, so a retry gets the same answer and a different body under the key a 409.
            CREATE TABLE idempotency_keys (
                scope         TEXT NOT NULL,
                key           TEXT NOT NULL,
                request_hash  BLOB NOT NULL,
                resource_id   TEXT NOT NULL,
                created_at    TEXT NOT NULL,
                PRIMARY KEY (scope, key)
            ) STRICT;

            -- Accounts frozen by a suspicious-login decision; TOTP and recovery codes refuse while
            -- a row exists. Unfreezing is an agent action of the cases feature (four-eyes).
            CREATE TABLE account_freezes (
                subject_id  TEXT PRIMARY KEY REFERENCES subjects (id),
                frozen_at   TEXT NOT NULL,
                report_id   TEXT NOT NULL
            ) STRICT;

            -- Cases requested before the cases feature exists (P1 suspicious_login on freeze);
            -- the cases feature opens them and sets opened_case_id.
            CREATE TABLE pending_cases (
                id              TEXT PRIMARY KEY,
                subject_id      TEXT NOT NULL REFERENCES subjects (id),
                category        TEXT NOT NULL,
                priority        TEXT NOT NULL,
                report_id       TEXT NOT NULL,
                created_at      TEXT NOT NULL,
                opened_case_id  TEXT
            ) STRICT;
            CREATE INDEX pending_cases_subject ON pending_cases (subject_id);

            -- Failed TOTP and recovery codes with their times, for the burst rule; rows older than a
            -- day (the largest window the policy allows) are pruned on insert.
            CREATE TABLE second_factor_failures (
                subject_id  TEXT NOT NULL REFERENCES subjects (id),
                factor      TEXT NOT NULL,
                at          TEXT NOT NULL
            ) STRICT;
            CREATE INDEX second_factor_failures_subject ON second_factor_failures (subject_id, at);
            """
        ),
        (
            6, "password resets",
            """
            -- Reset requests as received: the handler only queues them (identical work whatever
            -- the identifier); the worker resolves them. The identifier is personal data: encrypted.
            CREATE TABLE password_reset_requests (
                id             TEXT PRIMARY KEY,
                identifier_ct  BLOB NOT NULL,
                source_ip_ct   BLOB,
                received_at    TEXT NOT NULL,
                processed_at   TEXT
            ) STRICT;
            CREATE INDEX password_reset_requests_pending ON password_reset_requests (received_at) WHERE processed_at IS NULL;

            -- Tokens only as SHA-256 (256 random bits: nothing to brute-force); single use.
            CREATE TABLE password_reset_tokens (
                token_hash  BLOB PRIMARY KEY,
                subject_id  TEXT NOT NULL REFERENCES subjects (id),
                created_at  TEXT NOT NULL,
                expires_at  TEXT NOT NULL,
                used_at     TEXT,
                voided_at   TEXT
            ) STRICT;
            CREATE INDEX password_reset_tokens_subject ON password_reset_tokens (subject_id, created_at);

            -- Withdrawals held after a completed reset (cooling-off); the wallet backend reads the
            -- hold from the credentials.changed event and the reset response.
            CREATE TABLE withdrawal_holds (
                subject_id  TEXT PRIMARY KEY REFERENCES subjects (id),
                until       TEXT NOT NULL,
                created_at  TEXT NOT NULL
            ) STRICT;
            """
        ),
        (
            7, "agents",
            """
            -- Support agents. email is personal data: encrypted, looked up through a blind index.
            -- The TOTP secrets are encrypted like subjects' (bound to table, column and agent id).
            CREATE TABLE agents (
                id                   TEXT PRIMARY KEY,
                email_ct             BLOB NOT NULL,
                email_bidx           BLOB NOT NULL UNIQUE,
                role                 TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'auditor', 'admin')),
                password_hash        TEXT,
                totp_secret_ct       BLOB,
                pending_totp_ct      BLOB,
                totp_last_step       INTEGER,
                setup_token_hash     BLOB UNIQUE,
                setup_expires_at     TEXT,
                disabled_at          TEXT,
                created_at           TEXT NOT NULL
            ) STRICT;

            -- Console sessions: the token only as SHA-256.
            CREATE TABLE agent_sessions (
                token_hash    BLOB PRIMARY KEY,
                agent_id      TEXT NOT NULL REFERENCES agents (id),
                created_at    TEXT NOT NULL,
                expires_at    TEXT NOT NULL,
                last_seen_at  TEXT NOT NULL,
                revoked_at    TEXT
            ) STRICT;
            CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
            """
        ),
        (
            8, "cases",
            """
            -- Support cases. summary and contact are personal data: encrypted, bound to the case id.
            -- The due times come from Policies/sla.yaml at intake, on a 24/7 clock.
            CREATE TABLE cases (
                id                  TEXT PRIMARY KEY,
                subject_id          TEXT REFERENCES subjects (id),
                channel             TEXT NOT NULL,
                category            TEXT NOT NULL,
                priority            TEXT NOT NULL CHECK (priority IN ('P1', 'P2', 'P3', 'P4')),
                status              TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'closed')),
                summary_ct          BLOB NOT NULL,
                contact_ct          BLOB,
                triage_rules        TEXT NOT NULL,
                opened_at           TEXT NOT NULL,
                first_response_due  TEXT NOT NULL,
                resolution_due      TEXT NOT NULL,
                first_responded_at  TEXT,
                assignee            TEXT REFERENCES agents (id),
                assigned_at         TEXT,
                closed_at           TEXT
            ) STRICT;
            CREATE INDEX cases_queue ON cases (status, first_response_due);
            """
        ),
        (
            9, "case workflow",
            """
            -- How a case ended and what the requester thought of it. The CSAT comment is the
            -- requester's own words: encrypted, bound to the case id.
            ALTER TABLE cases ADD COLUMN resolution_code TEXT;
            ALTER TABLE cases ADD COLUMN csat_score INTEGER CHECK (csat_score BETWEEN 1 AND 5);
            ALTER TABLE cases ADD COLUMN csat_comment_ct BLOB;
            ALTER TABLE cases ADD COLUMN feedback_at TEXT;
            CREATE INDEX cases_closed ON cases (closed_at) WHERE closed_at IS NOT NULL;

            -- Which audit entries belong to which case (written with the entry, in its
            -- transaction), so a case file can carry them with their inclusion proofs.
            CREATE TABLE case_audit (
                case_id  TEXT    NOT NULL,
                seq      INTEGER NOT NULL,
                PRIMARY KEY (case_id, seq)
            ) STRICT, WITHOUT ROWID;

            -- Notes by agents: internal, or a reply sent to the requester (the first reply is
            -- the case's first response). The body is encrypted, bound to the note id.
            CREATE TABLE case_notes (
                id          TEXT PRIMARY KEY,
                case_id     TEXT NOT NULL REFERENCES cases (id),
                kind        TEXT NOT NULL CHECK (kind IN ('internal', 'reply', 'reveal_reason')),
                author      TEXT NOT NULL REFERENCES agents (id),
                body_ct     BLOB NOT NULL,
                created_at  TEXT NOT NULL
            ) STRICT;
            CREATE INDEX case_notes_case ON case_notes (case_id, created_at);

            -- Checks of Policies/recovery.yaml done for a case. One-time codes sent to the
            -- subject's registered contact are kept only as a keyed hash until used or expired.
            CREATE TABLE case_verifications (
                id               TEXT PRIMARY KEY,
                case_id          TEXT NOT NULL REFERENCES cases (id),
                check_name       TEXT NOT NULL,
                status           TEXT NOT NULL CHECK (status IN ('pending', 'passed', 'failed')),
                agent_id         TEXT NOT NULL REFERENCES agents (id),
                code_hash        BLOB,
                attempts         INTEGER NOT NULL DEFAULT 0,
                code_expires_at  TEXT,
                created_at       TEXT NOT NULL,
                completed_at     TEXT
            ) STRICT;
            CREATE INDEX case_verifications_case ON case_verifications (case_id, created_at);

            -- Agent actions on the case's subject. High-risk ones wait for a supervisor who is not
            -- the requester (four eyes). reason and params (a new contact) are encrypted.
            CREATE TABLE case_actions (
                id            TEXT PRIMARY KEY,
                case_id       TEXT NOT NULL REFERENCES cases (id),
                action        TEXT NOT NULL,
                status        TEXT NOT NULL CHECK (status IN ('pending_approval', 'rejected', 'executed', 'cancelled')),
                requested_by  TEXT NOT NULL REFERENCES agents (id),
                requested_at  TEXT NOT NULL,
                reason_ct     BLOB NOT NULL,
                params_ct     BLOB,
                checks        TEXT NOT NULL,
                decided_by    TEXT REFERENCES agents (id),
                decided_at    TEXT,
                executed_at   TEXT,
                hold_until    TEXT
            ) STRICT;
            CREATE INDEX case_actions_case ON case_actions (case_id, requested_at);
            CREATE INDEX case_actions_pending ON case_actions (requested_at) WHERE status = 'pending_approval';
            """
        ),
        (
            10, "recovery_codes_unused",
            """
            -- Every TOTP and recovery-code verify answers how many recovery codes are left: this
            -- partial index holds just the unused ones, so the count reads one index page instead
            -- of looking each code's row up in the table.
            CREATE INDEX recovery_codes_unused ON recovery_codes (subject_id) WHERE used_at IS NULL;
            """
        ),
        (
            11, "one_time_code_counters",
            """
            -- A TOTP or recovery-code check writes one row: the factor's failure state, its request
            -- counter (before: a rate_counters row) and the times of its recent failures for the
            -- suspicious-login burst rule (before: a second_factor_failures row per failure) —
            -- milliseconds since 1970, comma-separated, the last day's and at most the newest 100.
            ALTER TABLE factor_failures ADD COLUMN rate_window INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE factor_failures ADD COLUMN rate_count INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE factor_failures ADD COLUMN recent_failures TEXT NOT NULL DEFAULT '';
            INSERT INTO factor_failures (subject_id, factor, consecutive, locked_until, recent_failures)
            SELECT subject_id, factor, 0, NULL, group_concat(ms, ',')
            FROM (
                SELECT subject_id, factor, CAST(round((julianday(at) - 2440587.5) * 86400000.0) AS INTEGER) AS ms
                FROM second_factor_failures
                WHERE factor IN ('totp', 'recovery_code')
                ORDER BY subject_id, factor, ms
            )
            WHERE true
            GROUP BY subject_id, factor
            ON CONFLICT (subject_id, factor) DO UPDATE SET recent_failures = excluded.recent_failures;
            DROP TABLE second_factor_failures;
            -- The counters of the verify windows running at the upgrade stay in rate_counters,
            -- unread: those windows start again from zero, once.
            """
        ),
        (
            13, "agent_lockout",
            """
            -- Console logins lock like subjects' factors (issue 11): consecutive failures per agent
            -- and factor, password and TOTP apart, and the lock they caused ('indefinite': until an
            -- operator unlocks it with `vigil agent unlock`).
            CREATE TABLE agent_factor_failures (
                agent_id      TEXT    NOT NULL REFERENCES agents (id),
                factor        TEXT    NOT NULL CHECK (factor IN ('password', 'totp')),
                consecutive   INTEGER NOT NULL,
                locked_until  TEXT,
                PRIMARY KEY (agent_id, factor)
            ) STRICT;
            """
        ),
    ]
}
