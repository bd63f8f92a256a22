-- candidate_blocks is an index of candidates kept by the store itself (written with the candidate,
-- made again when a record takes a new name or contact, deleted when a person is erased); candidates
-- are never deleted. Its foreign key checked every block row against candidates, four times per new
-- candidate, and cost more than the rows themselves: it goes (SQLite drops a constraint by copying
-- the table).
CREATE TABLE candidate_blocks_0007 (
    key           TEXT NOT NULL,
    candidate_id  INTEGER NOT NULL
);
INSERT INTO candidate_blocks_0007 (key, candidate_id) SELECT key, candidate_id FROM candidate_blocks;
DROP TABLE candidate_blocks;
ALTER TABLE candidate_blocks_0007 RENAME TO candidate_blocks;
CREATE INDEX candidate_blocks_key_candidate ON candidate_blocks (key, candidate_id);
CREATE INDEX candidate_blocks_candidate ON candidate_blocks (candidate_id);
