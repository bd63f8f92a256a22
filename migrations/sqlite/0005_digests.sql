-- Digests (SPEC §8): one row per (digest, fire time) that was sent. A daemon claims a fire with
-- INSERT … ON CONFLICT DO NOTHING in the same transaction that writes the digest's messages to the
-- outbox, so with several daemons each fire is sent exactly once. `digest_key` names the
-- [[digests]] entry: '<kind>|<schedule>|<timezone>'. The previous row of a key is where the next
-- digest's period starts ("since the last digest").
CREATE TABLE digest_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    digest_key  TEXT NOT NULL,
    fire_time   TEXT NOT NULL,
    since       TEXT NOT NULL,                  -- the period the digest covered: (since, fire_time]
    claimed_at  TEXT NOT NULL,
    claimed_by  TEXT NOT NULL DEFAULT '',       -- host:pid of the daemon that sent it
    messages    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (digest_key, fire_time)
);
