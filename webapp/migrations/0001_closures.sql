-- Dated exceptions to the weekly hours: closed all day (opens and closes NULL)
-- or special hours for that clinic-local date. The weekly hours live in data/clinic.toml.
CREATE TABLE closures (
    day TEXT PRIMARY KEY
        CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
    opens TEXT CHECK (opens IS NULL OR opens GLOB '[0-2][0-9]:[0-5][0-9]'),
    closes TEXT CHECK (closes IS NULL OR closes GLOB '[0-2][0-9]:[0-5][0-9]'),
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 80),
    created_at TEXT NOT NULL,
    CHECK ((opens IS NULL) = (closes IS NULL)),
    CHECK (opens IS NULL OR opens < closes)
) STRICT;
