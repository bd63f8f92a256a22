-- Postgres keeps each block key as a 64-bit hash instead of its text: the first eight bytes of its
-- MD5 (stored_block_hash in src/store/submissions.rs computes the same). With a million candidates
-- the block index was 314 MB of text keys, larger than the server's cache, and every file's new
-- keys were written all over it; hashes make it half that, and the code writes and asks for them in
-- hash order. Two keys of one hash only put a person more to compare: comparisons are exact.
-- (SQLite keeps the text: it is the embedded default, not the one with a million candidates.)
CREATE TABLE candidate_block_hashes (
    key_hash      BIGINT NOT NULL,
    candidate_id  BIGINT NOT NULL
);
INSERT INTO candidate_block_hashes (key_hash, candidate_id)
SELECT ('x' || left(md5(key), 16))::bit(64)::bigint, candidate_id
  FROM candidate_blocks
 ORDER BY 1, 2;
DROP TABLE candidate_blocks;
ALTER TABLE candidate_block_hashes RENAME TO candidate_blocks;
-- Block lookups read only the index: the hash and its candidate.
CREATE INDEX candidate_blocks_key_hash ON candidate_blocks (key_hash) INCLUDE (candidate_id);
-- No index by candidate: keeping it cost half the time of writing a file's block keys (new ids
-- arrive in hash order). A person's keys are removed by what they are (the code knows the person it
-- re-keys); only `erase`, rare, finds them by candidate, reading the table.
