-- candidate_blocks is an index of candidates kept by the store itself (written with the candidate,
-- made again when a record takes a new name or contact, deleted when a person is erased); candidates
-- are never deleted. Its foreign key checked every block row against candidates, four times per new
-- candidate, and cost more than the rows themselves: it goes.
ALTER TABLE candidate_blocks DROP CONSTRAINT IF EXISTS candidate_blocks_candidate_id_fkey;
