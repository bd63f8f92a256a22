-- Phone block keys of numbers with 11 digits or more move from the last 7 digits split 3 + 1 + 3 to
-- the last 9 split 4 + 1 + 4 (see phone_keys in src/who_is_who.rs): with a digit more on each side a
-- block holds a tenth of the people (the tail) to a third (the head, which carries mobile network
-- digits), so a lookup reads fewer people. The name initials before the `|` stay as they were.
-- Shorter numbers keep their keys.
WITH moved AS (
    DELETE FROM candidate_blocks b
     USING candidates c
     WHERE c.id = b.candidate_id
       AND split_part(b.key, '|', 2) LIKE 'p%'
       AND length(c.phone_key) >= 11
    RETURNING b.candidate_id, split_part(b.key, '|', 1) AS sig, c.phone_key
), people AS (
    SELECT DISTINCT candidate_id, sig, phone_key FROM moved
)
INSERT INTO candidate_blocks (key, candidate_id)
SELECT sig || '|p' || length(phone_key) || 'h:' || substr(phone_key, length(phone_key) - 8, 4),
       candidate_id
  FROM people
UNION ALL
SELECT sig || '|p' || length(phone_key) || 't:' || right(phone_key, 4), candidate_id
  FROM people;

-- Block lookups read only the index: the key and its candidate.
CREATE INDEX candidate_blocks_key_candidate ON candidate_blocks (key) INCLUDE (candidate_id);
DROP INDEX candidate_blocks_key;
