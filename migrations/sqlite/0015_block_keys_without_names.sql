-- The review rule's block keys are made of the contacts alone (SPEC §6.3 (r2)): no name initials,
-- and phone keys shared by numbers of every length (see block_keys in src/who_is_who.rs). The index
-- of the old keys is emptied here, and the store makes it again from every candidate once, in Rust,
-- right after migrating (Store::migrate), then drops this marker in the same transaction. A new
-- database (no candidates) has nothing to make again: no marker.
DELETE FROM candidate_blocks;
CREATE TABLE block_index_rebuild (pending BOOLEAN NOT NULL);
INSERT INTO block_index_rebuild (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM candidates);
