-- Fast staff views at any size: a trigram full-text index for searching names, emails and
-- phone numbers, and per-status counts kept by triggers instead of counted on each view.
CREATE VIRTUAL TABLE consultations_fts USING fts5(
    full_name, email, phone,
    content = 'consultations', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO consultations_fts (rowid, full_name, email, phone)
    SELECT id, full_name, email, phone FROM consultations;

CREATE TRIGGER consultations_fts_insert AFTER INSERT ON consultations BEGIN
    INSERT INTO consultations_fts (rowid, full_name, email, phone)
        VALUES (new.id, new.full_name, new.email, new.phone);
END;
CREATE TRIGGER consultations_fts_delete AFTER DELETE ON consultations BEGIN
    INSERT INTO consultations_fts (consultations_fts, rowid, full_name, email, phone)
        VALUES ('delete', old.id, old.full_name, old.email, old.phone);
END;
CREATE TRIGGER consultations_fts_update AFTER UPDATE OF full_name, email, phone ON consultations
BEGIN
    INSERT INTO consultations_fts (consultations_fts, rowid, full_name, email, phone)
        VALUES ('delete', old.id, old.full_name, old.email, old.phone);
    INSERT INTO consultations_fts (rowid, full_name, email, phone)
        VALUES (new.id, new.full_name, new.email, new.phone);
END;

CREATE TABLE consultation_counts (
    status TEXT PRIMARY KEY,
    n INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
INSERT INTO consultation_counts (status, n)
    SELECT s.status, (SELECT count(*) FROM consultations c WHERE c.status = s.status)
    FROM (SELECT 'new' AS status UNION ALL SELECT 'contacted' UNION ALL SELECT 'scheduled'
          UNION ALL SELECT 'not_a_fit' UNION ALL SELECT 'closed') AS s;

CREATE TRIGGER consultation_counts_insert AFTER INSERT ON consultations BEGIN
    UPDATE consultation_counts SET n = n + 1 WHERE status = new.status;
END;
CREATE TRIGGER consultation_counts_delete AFTER DELETE ON consultations BEGIN
    UPDATE consultation_counts SET n = n - 1 WHERE status = old.status;
END;
CREATE TRIGGER consultation_counts_update AFTER UPDATE OF status ON consultations
WHEN old.status <> new.status BEGIN
    UPDATE consultation_counts SET n = n - 1 WHERE status = old.status;
    UPDATE consultation_counts SET n = n + 1 WHERE status = new.status;
END;

-- Newest first is arrival order (id); within a status, the index keeps ids in order.
DROP INDEX consultations_by_created;
DROP INDEX consultations_by_status;
CREATE INDEX consultations_by_status ON consultations (status);
