-- SPEC §7 (r2) "Review decisions are told": when an owner decided a review row, so that the agency
-- digest lists the decisions since the last digest. Rows decided before this migration have none
-- and are not listed.
ALTER TABLE submission_rows ADD COLUMN reviewed_at TEXT;
CREATE INDEX submission_rows_reviewed ON submission_rows (reviewed_at) WHERE reviewed_at IS NOT NULL;
