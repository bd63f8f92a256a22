-- Digest unsubscribes (SPEC §7, §8 (r2)): one row per (address, digest kind) that someone turned off
-- with the `unsubscribe [kind]` email command (or the List-Unsubscribe mailto: of a digest).
-- `subscribe [kind]` deletes the row. Scheduled digests and `digest send` skip these addresses; a
-- digest asked for by name (`status`, `digest send --to`) is still sent.
CREATE TABLE digest_unsubscribes (
    email       TEXT NOT NULL,                  -- lower-case
    kind        TEXT NOT NULL,                  -- agency | owner | recruiter
    created_at  TEXT NOT NULL,
    PRIMARY KEY (email, kind)
);
