-- 0016. Digest unsubscribes (SPEC §7, §8 (r2)): one row per (address, digest kind) that someone turned off
-- with the `unsubscribe [kind]` email command (or the List-Unsubscribe mailto: of a digest).
-- `subscribe [kind]` deletes the row. Scheduled digests and `digest send` skip these addresses; a
-- digest asked for by name (`status`, `digest send --to`) is still sent.
CREATE TABLE digest_unsubscribes (
    email       TEXT NOT NULL,                  -- lower-case
    kind        TEXT NOT NULL,                  -- agency | owner | recruiter
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (email, kind)
);

-- `agency-portal outbox resend ID | --failed` (SPEC §9 (r2)): a failed message goes back to 'pending'
-- with the same bytes (so the same Message-ID). `resent_at` restarts the worker's give-up clock (it
-- counted from created_at), `resends` keeps the owners' alert of a new failure distinct.
ALTER TABLE outbox ADD COLUMN resent_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
