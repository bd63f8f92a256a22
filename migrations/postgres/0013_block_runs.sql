-- The block index as runs (see src/store/blocks.rs): instead of a row per (key, candidate) in a
-- table and a B-tree (7.6 million of each for a million candidates; a 100,000-row file added
-- 590,000 and looked up a million, one index descent each), the keys are grouped in 65,536
-- buckets by the top 16 bits of their hash, and each bucket is kept as a few rows ("runs") that
-- pack its entries, sorted by (hash, candidate), in one bytea: per entry the hash (8 bytes), the
-- candidate (8), the phone length (2; -1 marks the removal of an older entry of the pair), the
-- contact's length in bytes (2), all big-endian, then the contact's UTF-8. A file writes one run
-- per bucket it touches; a large file reads buckets whole, one after another.
-- Runs up to 8 KB stay in the table's own pages, uncompressed (they are read far more often than
-- written, and are as small as their entries already).
CREATE TABLE candidate_block_runs (
    id       BIGINT GENERATED ALWAYS AS IDENTITY,
    bucket   INTEGER NOT NULL,
    entries  INTEGER NOT NULL,
    data     BYTEA NOT NULL
) WITH (toast_tuple_target = 8160);
ALTER TABLE candidate_block_runs ALTER COLUMN data SET STORAGE EXTERNAL;

INSERT INTO candidate_block_runs (bucket, entries, data)
SELECT (key_hash >> 48)::int, count(*),
       string_agg(int8send(key_hash) || int8send(candidate_id) || int2send(phone_len)
                  || int2send(octet_length(convert_to(near, 'UTF8'))::smallint) || convert_to(near, 'UTF8'),
                  ''::bytea ORDER BY key_hash, candidate_id)
  FROM candidate_blocks
 GROUP BY 1
 ORDER BY 1;

CREATE UNIQUE INDEX candidate_block_runs_bucket ON candidate_block_runs (bucket, id) INCLUDE (entries);
DROP TABLE candidate_blocks;
