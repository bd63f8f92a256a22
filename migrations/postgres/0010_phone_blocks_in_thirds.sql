-- Phone block keys move from halves of the last 9 digits (11 digits or more) or 7 (fewer) to the
-- three keys of thirds of the last 11 digits (all of a shorter number's), as email keys did in 0008
-- (see phone_keys in src/who_is_who.rs): the head half of a mobile number held the network's digits
-- and two more, a block some 12 people of a million; every third-pair holds three subscriber
-- digits at least. Email keys are unchanged.
-- Postgres keeps the keys' hashes (0009), so the old keys are made again from each candidate, with
-- its name initials (the first letters of the name keys, in code point order, as the code sorts
-- them), and removed by their hash; then the new ones are added.
CREATE TEMP TABLE phone_blocks_0010 AS
SELECT id AS candidate_id, sig, phone_key AS d, length(phone_key) AS n,
       least(length(phone_key), 11) AS l
  FROM (SELECT id, phone_key,
               CASE WHEN first_key = '' THEN left(last_key, 1)
                    WHEN last_key = '' THEN left(first_key, 1)
                    WHEN left(first_key, 1) COLLATE "C" <= left(last_key, 1) COLLATE "C"
                        THEN left(first_key, 1) || left(last_key, 1)
                    ELSE left(last_key, 1) || left(first_key, 1)
               END AS sig
          FROM candidates
         WHERE phone_key IS NOT NULL AND length(phone_key) >= 8
           AND octet_length(phone_key) = length(phone_key)
           AND erased_at IS NULL) s
 WHERE sig <> '';

WITH old(key, candidate_id) AS (
    SELECT sig || '|p' || n || 'h:' || CASE WHEN n >= 11 THEN substr(d, n - 8, 4)
                                            ELSE substr(d, n - 6, 3) END, candidate_id
      FROM phone_blocks_0010
    UNION ALL
    SELECT sig || '|p' || n || 't:' || CASE WHEN n >= 11 THEN right(d, 4) ELSE right(d, 3) END,
           candidate_id
      FROM phone_blocks_0010
)
DELETE FROM candidate_blocks b
 USING old
 WHERE b.key_hash = ('x' || left(md5(old.key), 16))::bit(64)::bigint
   AND b.candidate_id = old.candidate_id;

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
), keys(key, candidate_id) AS (
    SELECT tag || 'ab' || l || ':' || a || b, candidate_id FROM parts
    UNION ALL
    SELECT tag || 'ac' || l || ':' || a || c, candidate_id FROM parts
    UNION ALL
    SELECT tag || 'bc' || l || ':' || b || c, candidate_id FROM parts
)
INSERT INTO candidate_blocks (key_hash, candidate_id)
SELECT ('x' || left(md5(key), 16))::bit(64)::bigint, candidate_id FROM keys ORDER BY 1;

DROP TABLE phone_blocks_0010;
