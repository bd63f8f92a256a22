-- Phone block keys move from halves of the last 9 digits (11 digits or more) or 7 (fewer) to the
-- three keys of thirds of the last 11 digits (all of a shorter number's), as email keys did in 0008
-- (see phone_keys in src/who_is_who.rs): the head half of a mobile number held the network's digits
-- and two more, a block some 12 people of a million; every third-pair holds three subscriber
-- digits at least. The name initials before the `|` stay as they were; email keys are unchanged.
CREATE TEMP TABLE phone_blocks_0010 AS
SELECT DISTINCT b.candidate_id AS candidate_id,
       substr(b.key, 1, instr(b.key, '|') - 1) AS sig,
       c.phone_key AS d,
       length(c.phone_key) AS n,
       min(length(c.phone_key), 11) AS l
  FROM candidate_blocks b
  JOIN candidates c ON c.id = b.candidate_id
 WHERE substr(b.key, instr(b.key, '|') + 1, 1) = 'p'
   AND c.phone_key IS NOT NULL;

DELETE FROM candidate_blocks
 WHERE substr(key, instr(key, '|') + 1, 1) = 'p'
   AND candidate_id IN (SELECT candidate_id FROM phone_blocks_0010);

WITH sizes AS (
    SELECT candidate_id, sig, n, l, substr(d, n - l + 1) AS t,
           (l - 2) / 3 AS la,
           (l - 2 - (l - 2) / 3) / 2 AS lb
      FROM phone_blocks_0010
), parts AS (
    SELECT candidate_id, sig || '|p' || n AS tag, l,
           substr(t, 1, la) AS a,
           substr(t, la + 2, lb) AS b,
           substr(t, la + lb + 3) AS c
      FROM sizes
)
INSERT INTO candidate_blocks (key, candidate_id)
SELECT tag || 'ab' || l || ':' || a || b, candidate_id FROM parts
UNION ALL
SELECT tag || 'ac' || l || ':' || a || c, candidate_id FROM parts
UNION ALL
SELECT tag || 'bc' || l || ':' || b || c, candidate_id FROM parts;

DROP TABLE phone_blocks_0010;
