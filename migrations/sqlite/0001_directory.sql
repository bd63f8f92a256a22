-- The directory (SPEC §3.2) as the database keeps it: rows are deactivated, never deleted.

CREATE TABLE owners (
    email       TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE agencies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    added_by    TEXT NOT NULL,
    added_on    TEXT,
    logo        TEXT,
    domains     TEXT NOT NULL DEFAULT '[]',   -- JSON array of lower-case domains
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Agency users: from the directory file (source 'directory') or invited by an agency admin ('invited').
CREATE TABLE agency_users (
    email       TEXT PRIMARY KEY,
    agency_id   TEXT NOT NULL REFERENCES agencies(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    source      TEXT NOT NULL DEFAULT 'directory' CHECK (source IN ('directory', 'invited')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX agency_users_agency ON agency_users (agency_id);

CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_by  TEXT NOT NULL,
    created_on  TEXT,
    required    TEXT,                         -- JSON array of field names; NULL = the default rule
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE recruiters (
    email       TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    campaigns   TEXT NOT NULL DEFAULT '[]',   -- JSON array of campaign ids
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- One row per applied sync that changed something, and what it changed.
CREATE TABLE directory_syncs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    applied_at  TEXT NOT NULL,
    file        TEXT NOT NULL,
    sha256      TEXT NOT NULL
);

CREATE TABLE directory_changes (
    sync_id     INTEGER NOT NULL REFERENCES directory_syncs(id),
    kind        TEXT NOT NULL,                -- owner | recruiter | agency | user | campaign
    key         TEXT NOT NULL,                -- its id or email
    change      TEXT NOT NULL,                -- added | updated | deactivated | reactivated
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX directory_changes_sync ON directory_changes (sync_id);
