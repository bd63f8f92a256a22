-- Talkpush sync (SPEC §11 (r2)): one row per candidate and campaign to create as a Talkpush lead,
-- written in the same transaction as the candidate's `new` ownership (or `review accept`), pushed by
-- the Talkpush worker. Workers claim rows like the outbox's (status 'pushing' with a lease;
-- `FOR UPDATE SKIP LOCKED`); an expired lease makes the row claimable again, and every claim
-- searches Talkpush before it creates, so a lead created by a worker that died is found, not made
-- twice. `result` says how a synced row got its lead: created | found (by the search) | duplicate
-- (Talkpush's "Duplicate Candidate" answer). `failures` only goes up (a metrics counter), even when
-- `talkpush retry --failed` puts a failed row back to pending.
CREATE TABLE talkpush_pushes (
    id              BIGSERIAL PRIMARY KEY,
    candidate_id    BIGINT NOT NULL,
    campaign_id     TEXT NOT NULL,
    agency_id       TEXT,
    user_email      TEXT,
    submission_id   BIGINT,
    row_number      BIGINT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'pushing', 'synced', 'failed')),
    result          TEXT CHECK (result IN ('created', 'found', 'duplicate')),
    lead_id         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,  -- claims so far
    creates         INTEGER NOT NULL DEFAULT 0,  -- create calls sent
    failures        INTEGER NOT NULL DEFAULT 0,  -- permanent failures, ever
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    synced_at       TIMESTAMPTZ,
    UNIQUE (candidate_id, campaign_id)
);
CREATE INDEX talkpush_pushes_due ON talkpush_pushes (status, next_attempt_at);
