-- Roles, two-factor sign-in, invitations, and sessions that say which device they are.

-- admin: manages accounts at /staff/accounts; staff: everything else.
ALTER TABLE staff ADD COLUMN role TEXT NOT NULL DEFAULT 'staff' CHECK (role IN ('admin', 'staff'));
-- Two-factor (TOTP, RFC 6238): the shared secret (base32) while it is on, and the last
-- time-step accepted, so a code is never accepted twice.
ALTER TABLE staff ADD COLUMN totp_secret TEXT;
ALTER TABLE staff ADD COLUMN totp_last_step INTEGER;
ALTER TABLE staff ADD COLUMN mfa_enabled_at TEXT;

-- Accounts made before roles existed: the oldest active one manages the others.
UPDATE staff SET role = 'admin'
WHERE id = (SELECT id FROM staff WHERE active = 1 ORDER BY created_at, id LIMIT 1)
AND NOT EXISTS (SELECT 1 FROM staff WHERE role = 'admin');

-- The application refuses this first (a clear message); the trigger holds for any writer.
CREATE TRIGGER staff_keep_an_admin BEFORE UPDATE OF role, active ON staff
WHEN OLD.role = 'admin' AND OLD.active = 1 AND (NEW.role <> 'admin' OR NEW.active = 0)
AND NOT EXISTS (SELECT 1 FROM staff WHERE role = 'admin' AND active = 1 AND id <> OLD.id)
BEGIN SELECT RAISE(ABORT, 'the last active admin cannot be disabled or demoted'); END;

-- Single-use recovery codes: only their SHA-256 (each code holds 80 random bits).
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY,
    staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT
) STRICT;
CREATE INDEX recovery_codes_by_staff ON recovery_codes (staff_id);

-- Invitations: a single-use link (only its SHA-256 is kept), valid until expires_at.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL COLLATE NOCASE CHECK (length(email) BETWEEN 3 AND 254),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by INTEGER REFERENCES staff (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT
) STRICT;
CREATE INDEX invitations_by_email ON invitations (email);

-- Sessions: a random handle to name one in "your sessions" (never the id or its hash), and a
-- short device label ("Firefox on Windows"), nothing more of the browser.
ALTER TABLE sessions ADD COLUMN handle TEXT;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
UPDATE sessions SET handle = lower(hex(randomblob(12)));
CREATE UNIQUE INDEX sessions_by_handle ON sessions (handle);
