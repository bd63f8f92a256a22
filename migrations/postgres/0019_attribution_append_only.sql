-- The attribution history is append-only (SPEC §6.5: attribution is never overwritten, only
-- superseded; it is the record owners settle "who sent this candidate first" with). The database
-- itself now refuses what the store's code never does: deleting or truncating an ownership, and any
-- change to one but the time it was superseded, set once.
CREATE FUNCTION ownerships_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'ownerships are the attribution history: they are never deleted'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.superseded_at IS NOT NULL OR NEW.superseded_at IS NULL
       OR (NEW.id, NEW.candidate_id, NEW.scope_key, NEW.agency_id, NEW.user_email, NEW.channel,
           NEW.submission_id, NEW.row_number, NEW.campaign_id, NEW.started_at, NEW.expires_at)
          IS DISTINCT FROM
          (OLD.id, OLD.candidate_id, OLD.scope_key, OLD.agency_id, OLD.user_email, OLD.channel,
           OLD.submission_id, OLD.row_number, OLD.campaign_id, OLD.started_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'an ownership only ever takes the time it was superseded, once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ownerships_append_only BEFORE UPDATE OR DELETE ON ownerships
    FOR EACH ROW EXECUTE FUNCTION ownerships_append_only();
CREATE TRIGGER ownerships_kept_whole BEFORE TRUNCATE ON ownerships
    FOR EACH STATEMENT EXECUTE FUNCTION ownerships_append_only();
