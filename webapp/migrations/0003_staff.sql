-- Staff accounts, server-side sessions, request notes and the audit trail.
CREATE TABLE staff (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- The cookie holds a signed random id; only its SHA-256 is stored, so a copy of the
-- database does not hand out live sessions.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_staff ON sessions (staff_id);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultations (id),
    staff_id INTEGER NOT NULL REFERENCES staff (id),
    body TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX notes_by_consultation ON notes (consultation_id, created_at);

-- Who did what, when (UTC). Never holds health text: notes and messages stay in their tables.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    staff_id INTEGER REFERENCES staff (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    -- No foreign key: the trail outlives a request deleted under the retention rule.
    consultation_id INTEGER,
    detail TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_by_consultation ON audit_log (consultation_id, at);

-- Notes and the audit trail are append-only.
CREATE TRIGGER notes_no_update BEFORE UPDATE ON notes
BEGIN SELECT RAISE(ABORT, 'notes are append-only'); END;
-- Deletion only as part of the retention rule: the request was closed over a year ago.
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
WHEN NOT EXISTS (
    SELECT 1 FROM consultations c WHERE c.id = OLD.consultation_id
    AND c.closed_at IS NOT NULL
    AND c.closed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-365 days')
)
BEGIN SELECT RAISE(ABORT, 'notes are append-only'); END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

ALTER TABLE consultations ADD COLUMN closed_at TEXT;
-- Search by contact details; name search uses the created_at order with LIKE.
CREATE INDEX consultations_by_email ON consultations (email) WHERE email <> '';
CREATE INDEX consultations_by_phone ON consultations (phone) WHERE phone <> '';
