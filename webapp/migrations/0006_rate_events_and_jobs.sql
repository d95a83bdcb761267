-- Rate limits shared by every worker process: one row per counted event, the key stored
-- only as a keyed hash (no address or email address lands here); pruned after a day.
CREATE TABLE rate_events (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE INDEX rate_events_by_key ON rate_events (bucket, key, at);
CREATE INDEX rate_events_by_age ON rate_events (at);

-- Background jobs (daily and periodic): who runs each one is decided here, in a write
-- transaction, so with several workers each run happens once.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    last_day TEXT,            -- daily jobs: the clinic-local date of the last claimed run
    last_started_at TEXT,
    last_finished_at TEXT,
    last_ok INTEGER CHECK (last_ok IN (0, 1)),
    last_summary TEXT NOT NULL DEFAULT '',
    not_before TEXT           -- after a failure: no new try before this instant
) STRICT;
