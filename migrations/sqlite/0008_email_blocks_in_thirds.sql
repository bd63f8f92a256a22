-- Email block keys move from halves of the local part (its first and its last (n - 1) / 2
-- characters) to thirds: the local part is cut into A · B · C with one character left out between
-- A and B and between B and C, and stored under A + B, A + C and B + C (see near_keys in
-- src/who_is_who.rs). Halves put every `maria.santos…` of a domain in one block (some 440 people per
-- lookup with a million candidates); two thirds of the address keep only those who share most of it.
-- The name initials before the `|` stay as they were; phone keys are unchanged.
-- The local part is what comes before the last `@`: rtrim(x, x without its @s) keeps x up to it.
CREATE TEMP TABLE email_blocks_0008 AS
SELECT DISTINCT b.candidate_id AS candidate_id,
       substr(b.key, 1, instr(b.key, '|') - 1) AS sig,
       c.email_key AS email_key,
       rtrim(c.email_key, replace(c.email_key, '@', '')) AS upto
  FROM candidate_blocks b
  JOIN candidates c ON c.id = b.candidate_id
 WHERE substr(b.key, instr(b.key, '|') + 1, 2) = 'e:'
   AND c.email_key IS NOT NULL;

DELETE FROM candidate_blocks
 WHERE substr(key, instr(key, '|') + 1, 2) = 'e:'
   AND candidate_id IN (SELECT candidate_id FROM email_blocks_0008);

WITH contacts AS (
    SELECT candidate_id, sig,
           substr(upto, 1, length(upto) - 1) AS local,
           substr(email_key, length(upto) + 1) AS domain
      FROM email_blocks_0008
), sizes AS (
    SELECT candidate_id, sig, local, domain, length(local) AS n,
           max(length(local) - 2, 0) / 3 AS la,
           (max(length(local) - 2, 0) - max(length(local) - 2, 0) / 3) / 2 AS lb
      FROM contacts
), parts AS (
    SELECT candidate_id, sig || '|e:' || domain || ':' AS tag, n,
           substr(local, 1, la) AS a,
           substr(local, la + 2, lb) AS b,
           substr(local, n - (max(n - 2, 0) - la - lb) + 1) AS c
      FROM sizes
)
INSERT INTO candidate_blocks (key, candidate_id)
SELECT tag || 'ab' || n || ':' || a || b, candidate_id FROM parts
UNION ALL
SELECT tag || 'ac' || n || ':' || a || c, candidate_id FROM parts
UNION ALL
SELECT tag || 'bc' || n || ':' || b || c, candidate_id FROM parts;

DROP TABLE email_blocks_0008;
