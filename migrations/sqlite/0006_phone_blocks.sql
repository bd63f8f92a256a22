-- Phone block keys of numbers with 11 digits or more move from the last 7 digits split 3 + 1 + 3 to
-- the last 9 split 4 + 1 + 4 (see phone_keys in src/who_is_who.rs): with a digit more on each side a
-- block holds a tenth of the people (the tail) to a third (the head, which carries mobile network
-- digits), so a lookup reads fewer people. The name initials before the `|` stay as they were.
-- Shorter numbers keep their keys.
CREATE TEMP TABLE phone_blocks_0006 AS
SELECT DISTINCT b.candidate_id AS candidate_id,
       substr(b.key, 1, instr(b.key, '|') - 1) AS sig,
       c.phone_key AS phone_key
  FROM candidate_blocks b
  JOIN candidates c ON c.id = b.candidate_id
 WHERE substr(b.key, instr(b.key, '|') + 1, 1) = 'p'
   AND length(c.phone_key) >= 11;

DELETE FROM candidate_blocks
 WHERE substr(key, instr(key, '|') + 1, 1) = 'p'
   AND candidate_id IN (SELECT candidate_id FROM phone_blocks_0006);

INSERT INTO candidate_blocks (key, candidate_id)
SELECT sig || '|p' || length(phone_key) || 'h:' || substr(phone_key, length(phone_key) - 8, 4),
       candidate_id
  FROM phone_blocks_0006
UNION ALL
SELECT sig || '|p' || length(phone_key) || 't:' || substr(phone_key, -4), candidate_id
  FROM phone_blocks_0006;

DROP TABLE phone_blocks_0006;

-- Block lookups read only the index: the key and its candidate.
CREATE INDEX candidate_blocks_key_candidate ON candidate_blocks (key, candidate_id);
DROP INDEX candidate_blocks_key;
