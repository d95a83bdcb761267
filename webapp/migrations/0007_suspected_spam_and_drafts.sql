-- Nothing a person sends is thrown away: a request that looks automated is stored with the
-- kind of signal that flagged it, kept out of the staff's figures and default view until staff
-- move it to the queue (suspected_spam back to NULL), and purged after 30 days.
ALTER TABLE consultations ADD COLUMN suspected_spam TEXT
    CHECK (suspected_spam IS NULL OR suspected_spam IN ('honeypot', 'too_fast', 'flood'));
-- The reply the confirmation promised (UTC; NULL: "as soon as the clinic reopens"), kept so
-- the acknowledgement email and the staff's queue state the same time.
ALTER TABLE consultations ADD COLUMN reply_by TEXT;
-- The "Suspected spam" list, newest first, and its purge.
CREATE INDEX consultations_suspected ON consultations (id) WHERE suspected_spam IS NOT NULL;

-- The per-status counts leave suspected spam out and count it in a 'spam' row of its own.
INSERT INTO consultation_counts (status, n)
    SELECT 'spam', (SELECT count(*) FROM consultations WHERE suspected_spam IS NOT NULL);
DROP TRIGGER consultation_counts_insert;
DROP TRIGGER consultation_counts_delete;
DROP TRIGGER consultation_counts_update;
CREATE TRIGGER consultation_counts_insert AFTER INSERT ON consultations BEGIN
    UPDATE consultation_counts SET n = n + 1
    WHERE status = CASE WHEN new.suspected_spam IS NULL THEN new.status ELSE 'spam' END;
END;
CREATE TRIGGER consultation_counts_delete AFTER DELETE ON consultations BEGIN
    UPDATE consultation_counts SET n = n - 1
    WHERE status = CASE WHEN old.suspected_spam IS NULL THEN old.status ELSE 'spam' END;
END;
CREATE TRIGGER consultation_counts_update AFTER UPDATE OF status, suspected_spam ON consultations
WHEN (CASE WHEN old.suspected_spam IS NULL THEN old.status ELSE 'spam' END)
    <> (CASE WHEN new.suspected_spam IS NULL THEN new.status ELSE 'spam' END)
BEGIN
    UPDATE consultation_counts SET n = n - 1
    WHERE status = CASE WHEN old.suspected_spam IS NULL THEN old.status ELSE 'spam' END;
    UPDATE consultation_counts SET n = n + 1
    WHERE status = CASE WHEN new.suspected_spam IS NULL THEN new.status ELSE 'spam' END;
END;

-- What a visitor without JavaScript typed into a form that came back (errors, an expired form,
-- a rate limit): kept for a few minutes under a random id, so that the answer to the POST can
-- be a redirect (Post/Redirect/Get) with nothing personal in its URL. Personal data: read only
-- before expires_at, deleted once the request is sent or by the drafts job after expiry.
CREATE TABLE form_drafts (
    id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 20 AND 64),
    fields TEXT NOT NULL,  -- JSON object of the form's own fields, as typed
    notice TEXT CHECK (notice IS NULL OR notice IN ('expired', 'invalid', 'rate')),
    retry_at TEXT,         -- rate limited: when sending again may work
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX form_drafts_by_expiry ON form_drafts (expires_at);
