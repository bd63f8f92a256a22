-- Submissions, their rows, candidates and who owns them (SPEC §6.3–§6.5).

-- Every file processed (checks and dry runs are not stored; unreadable files are, with status 'failed').
CREATE TABLE submissions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    channel       TEXT NOT NULL,                 -- email | drop | cli | import
    sender        TEXT NOT NULL DEFAULT '',      -- the From address or the uploading account
    agency_id     TEXT REFERENCES agencies(id), -- NULL: the company's own import (import-existing)
    user_email    TEXT,                          -- the submitting user, when known
    file_name     TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    status        TEXT NOT NULL,                 -- processed | failed
    reason        TEXT NOT NULL DEFAULT '',      -- why a failed file could not be read
    rows          INTEGER NOT NULL DEFAULT 0,
    n_new         INTEGER NOT NULL DEFAULT 0,
    n_previously_submitted INTEGER NOT NULL DEFAULT 0,
    n_duplicate   INTEGER NOT NULL DEFAULT 0,
    n_blocked     INTEGER NOT NULL DEFAULT 0,
    n_review      INTEGER NOT NULL DEFAULT 0,
    n_repeated    INTEGER NOT NULL DEFAULT 0,
    n_invalid     INTEGER NOT NULL DEFAULT 0
);
-- A file already processed for an agency is recognised by its bytes and changes nothing.
CREATE UNIQUE INDEX submissions_once ON submissions (agency_id, sha256) WHERE status = 'processed';
CREATE INDEX submissions_agency_time ON submissions (agency_id, received_at);

-- People. One row per person: equal email keys or phone keys are the same person, so both are unique.
CREATE TABLE candidates (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    first_key     TEXT NOT NULL DEFAULT '',
    last_key      TEXT NOT NULL DEFAULT '',
    email         TEXT,
    email_key     TEXT,
    phone         TEXT,                          -- E.164
    phone_key     TEXT,
    custom        TEXT NOT NULL DEFAULT '[]',    -- JSON [[header, value], …]
    source        TEXT NOT NULL,                 -- agency | company (import-existing)
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    erased_at     TEXT                    -- personal data removed (tombstone kept)
);
CREATE UNIQUE INDEX candidates_email_key ON candidates (email_key);
CREATE UNIQUE INDEX candidates_phone_key ON candidates (phone_key);

-- Blocks for the review rule (who_is_who::block_keys): a few keys per candidate, looked up by key.
CREATE TABLE candidate_blocks (
    key           TEXT NOT NULL,
    candidate_id  INTEGER NOT NULL REFERENCES candidates(id)
);
CREATE INDEX candidate_blocks_key ON candidate_blocks (key);
CREATE INDEX candidate_blocks_candidate ON candidate_blocks (candidate_id);

-- Ownership (attribution). The current one of a person in a scope has superseded_at NULL; a later
-- ownership supersedes it, nothing is overwritten. scope_key is '' under scope "company", the campaign
-- id under scope "campaign". agency_id NULL = the company's own pipeline (import-existing).
CREATE TABLE ownerships (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id  INTEGER NOT NULL REFERENCES candidates(id),
    scope_key     TEXT NOT NULL,
    agency_id     TEXT REFERENCES agencies(id),
    user_email    TEXT,
    channel       TEXT NOT NULL,
    submission_id INTEGER REFERENCES submissions(id),
    row_number    INTEGER,
    campaign_id   TEXT,
    started_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    superseded_at TEXT
);
-- Exactly one current owner per person and scope, whatever races: the database says no to a second.
CREATE UNIQUE INDEX ownerships_current ON ownerships (candidate_id, scope_key) WHERE superseded_at IS NULL;
CREATE INDEX ownerships_agency ON ownerships (agency_id, started_at);
CREATE INDEX ownerships_expiry ON ownerships (expires_at) WHERE superseded_at IS NULL;

-- Every row's outcome, in input order.
CREATE TABLE submission_rows (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    row_number    INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    candidate_id  INTEGER REFERENCES candidates(id),
    same_as_row   INTEGER,
    campaign_id   TEXT,
    cells         TEXT NOT NULL DEFAULT '[]',    -- JSON: the row as the agency wrote it (erase clears it)
    person        TEXT,                          -- review rows: JSON of the normalised values, for accept
    review_state  TEXT                           -- review rows: pending | accepted | rejected
);
CREATE INDEX submission_rows_submission ON submission_rows (submission_id);
CREATE INDEX submission_rows_candidate ON submission_rows (candidate_id);
CREATE INDEX submission_rows_review ON submission_rows (review_state) WHERE review_state IS NOT NULL;
