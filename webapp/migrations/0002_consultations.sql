-- Consultation requests from the public form. No IP address or user agent is stored.
CREATE TABLE consultations (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    -- The form token's nonce: a replayed or double-clicked form finds its first row.
    token_id TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL CHECK (length(full_name) BETWEEN 1 AND 100),
    email TEXT NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    phone TEXT NOT NULL DEFAULT '' CHECK (phone = '' OR phone GLOB '+1[2-9][0-9][0-9][2-9][0-9][0-9][0-9][0-9][0-9][0-9]'),
    contact_method TEXT NOT NULL CHECK (contact_method IN ('call', 'text', 'email')),
    best_time TEXT NOT NULL CHECK (best_time IN ('morning', 'afternoon', 'any')),
    message TEXT NOT NULL DEFAULT '' CHECK (length(message) <= 1000),
    status TEXT NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'contacted', 'scheduled', 'not_a_fit', 'closed')),
    consent_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (email <> '' OR phone <> '')
) STRICT;

CREATE INDEX consultations_by_created ON consultations (created_at DESC);
CREATE INDEX consultations_by_status ON consultations (status, created_at DESC);
