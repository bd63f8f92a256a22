-- Each block key keeps, beside its hash and its candidate, the contact it is a key of (`near`: the
-- email's local part under an email key, the phone's digits under a phone key) and the length of
-- the candidate's phone in digits (`phone_len`, 0 without one), in the index too. A lookup then sees
-- in the index which people under a key have a contact within one edit of the row's and reads only
-- those: nearly everyone under a key shares the row's name initials and three quarters of its
-- contact, not one edit (see `BlockPeople::block_ids` in src/store/submissions.rs).
-- Which stored hashes are a candidate's phone keys is found by making them again, as 0010 made
-- them; the candidate's other keys are its email keys. The table is written anew in hash order.
CREATE TEMP TABLE phone_blocks_0011 AS
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

CREATE TEMP TABLE phone_hashes_0011 AS
WITH sizes AS (
    SELECT candidate_id, sig, n, l, substr(d, n - l + 1) AS t,
           (l - 2) / 3 AS la,
           (l - 2 - (l - 2) / 3) / 2 AS lb
      FROM phone_blocks_0011
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
SELECT ('x' || left(md5(key), 16))::bit(64)::bigint AS key_hash, candidate_id FROM keys;

CREATE TABLE candidate_blocks_0011 (
    key_hash      BIGINT NOT NULL,
    candidate_id  BIGINT NOT NULL,
    near          TEXT NOT NULL,
    phone_len     SMALLINT NOT NULL
);
INSERT INTO candidate_blocks_0011 (key_hash, candidate_id, near, phone_len)
SELECT b.key_hash, b.candidate_id,
       CASE WHEN p.key_hash IS NOT NULL THEN c.phone_key
            ELSE coalesce(substring(c.email_key FROM '^(.*)@[^@]*$'), '')
       END,
       coalesce(octet_length(c.phone_key), 0)
  FROM candidate_blocks b
  JOIN candidates c ON c.id = b.candidate_id
  LEFT JOIN phone_hashes_0011 p ON p.key_hash = b.key_hash AND p.candidate_id = b.candidate_id
 ORDER BY 1, 2;
DROP TABLE candidate_blocks;
ALTER TABLE candidate_blocks_0011 RENAME TO candidate_blocks;
CREATE INDEX candidate_blocks_key_hash ON candidate_blocks (key_hash)
    INCLUDE (candidate_id, near, phone_len);
DROP TABLE phone_hashes_0011;
DROP TABLE phone_blocks_0011;
