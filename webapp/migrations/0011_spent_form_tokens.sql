-- A form token stays spent when its request is deleted (issue 14's known gap): the replay
-- check reads a request's token_id, so once an erasure (or any deletion) removed the row, the
-- same form sent again within the token's 24 hours was stored as new, bringing back what the
-- person had asked to erase. Each deleted request leaves its token's random id and when the
-- request arrived, nothing else (no name, address or text); retention deletes these once no
-- token of theirs can still be valid.
CREATE TABLE spent_form_tokens (
    token_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX spent_form_tokens_by_age ON spent_form_tokens (created_at);

CREATE TRIGGER consultations_token_spent AFTER DELETE ON consultations BEGIN
    INSERT OR IGNORE INTO spent_form_tokens (token_id, created_at)
        VALUES (old.token_id, old.created_at);
END;
