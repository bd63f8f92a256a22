-- Email intake's ledger (SPEC §4.1): one row per message of a mailbox, however often it is delivered
-- or seen. A message is the same message when its Message-ID (`message_key`; 'sha256:<hex>' when it
-- has none), its raw bytes' SHA-256, or its UIDVALIDITY+UID match a row. `attempts` counts the tries
-- that started (a message whose tries crash three times is poison: failed folder, owners told).
-- `status` leaves 'pending' in the same transaction as the message's last effects; `moved_at` is set
-- once the message sits in its folder, so a move lost to a crash is finished on restart.
CREATE TABLE mail_ledger (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox      TEXT NOT NULL,                 -- which intake mailbox (imap://user@host/INBOX, a maildir path)
    message_key  TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    uidvalidity  INTEGER,                        -- IMAP: where it was last seen
    uid          INTEGER,
    sender       TEXT NOT NULL DEFAULT '',      -- the From address, lowercased
    subject      TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'processed', 'rejected', 'failed')),
    kind         TEXT NOT NULL DEFAULT '',      -- submission | check | command | help | ignored | rejected | poison
    reason       TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    received_at  TEXT NOT NULL,
    finished_at  TEXT,
    moved_at     TEXT,
    UNIQUE (mailbox, message_key)
);
CREATE INDEX mail_ledger_sha ON mail_ledger (mailbox, sha256);
CREATE INDEX mail_ledger_uid ON mail_ledger (mailbox, uidvalidity, uid);
CREATE INDEX mail_ledger_finished ON mail_ledger (status, finished_at);

-- Each attachment of a message is a submission of its own, recorded once: `source_ref` names the
-- message and the attachment ('mail:<ledger id>:<index>'), so a retry after a crash skips the parts
-- already committed.
ALTER TABLE submissions ADD COLUMN source_ref TEXT;
CREATE UNIQUE INDEX submissions_source_ref ON submissions (source_ref) WHERE source_ref IS NOT NULL;
