-- Notes stay append-only, but go with their request when it is deleted (retention,
-- erasure). The old rule asked SQLite's own clock ('now') whether a request was old enough;
-- the app's clock decides that now, and the database only refuses deleting a note on its own.
CREATE TABLE notes_new (
    id INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff (id),
    body TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO notes_new (id, consultation_id, staff_id, body, created_at)
    SELECT id, consultation_id, staff_id, body, created_at FROM notes;
DROP TRIGGER notes_no_update;
DROP TRIGGER notes_no_delete;
DROP TABLE notes;
ALTER TABLE notes_new RENAME TO notes;
CREATE INDEX notes_by_consultation ON notes (consultation_id, created_at);

CREATE TRIGGER notes_no_update BEFORE UPDATE ON notes
BEGIN SELECT RAISE(ABORT, 'notes are append-only'); END;
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
WHEN EXISTS (SELECT 1 FROM consultations c WHERE c.id = OLD.consultation_id)
BEGIN SELECT RAISE(ABORT, 'notes are append-only'); END;
