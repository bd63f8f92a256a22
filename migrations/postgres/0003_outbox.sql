-- Mail we send (SPEC §7): written in the same transaction as its cause, sent by the outbox worker.
-- `message` is the complete rendered RFC 5322 message; Message-ID and Date are inside it, fixed at
-- insert, so a resend after a crash is byte-identical. Workers claim rows with
-- `FOR UPDATE SKIP LOCKED` and a lease (status 'sending', lease_owner, lease_until); an expired
-- lease makes the row claimable again.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,        -- '<…@…>', as in the message's header
    kind            TEXT NOT NULL CHECK (kind IN ('receipt', 'invitation', 'alert', 'command_reply', 'digest')),
    dedupe_key      TEXT UNIQUE,                 -- e.g. 'invitation:ana@acme.ph': once, ever
    sender          TEXT NOT NULL,               -- envelope MAIL FROM
    recipients      TEXT NOT NULL,               -- JSON array of envelope RCPT TO addresses
    message         BYTEA NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,  -- claims so far
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
