-- The attribution history is append-only (SPEC §6.5; see the Postgres migration of the same number):
-- an ownership is never deleted, and the only change it takes is the time it was superseded, once.
CREATE TRIGGER ownerships_never_deleted BEFORE DELETE ON ownerships
BEGIN
    SELECT RAISE(ABORT, 'ownerships are the attribution history: they are never deleted');
END;
CREATE TRIGGER ownerships_only_superseded BEFORE UPDATE ON ownerships
WHEN OLD.superseded_at IS NOT NULL OR NEW.superseded_at IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.candidate_id IS NOT OLD.candidate_id
  OR NEW.scope_key IS NOT OLD.scope_key OR NEW.agency_id IS NOT OLD.agency_id
  OR NEW.user_email IS NOT OLD.user_email OR NEW.channel IS NOT OLD.channel
  OR NEW.submission_id IS NOT OLD.submission_id OR NEW.row_number IS NOT OLD.row_number
  OR NEW.campaign_id IS NOT OLD.campaign_id OR NEW.started_at IS NOT OLD.started_at
  OR NEW.expires_at IS NOT OLD.expires_at
BEGIN
    SELECT RAISE(ABORT, 'an ownership only ever takes the time it was superseded, once');
END;
