-- Email block keys move from halves of the local part (its first and its last (n - 1) / 2
-- characters) to thirds: the local part is cut into A · B · C with one character left out between
-- A and B and between B and C, and stored under A + B, A + C and B + C (see near_keys in
-- src/who_is_who.rs). Halves put every `maria.santos…` of a domain in one block (some 440 people per
-- lookup with a million candidates); two thirds of the address keep only those who share most of it.
-- The name initials before the `|` stay as they were; phone keys are unchanged.
-- The local part is what comes before the last `@`: rtrim(x, x without its @s) keeps x up to it.
WITH moved AS (
    DELETE FROM candidate_blocks b
     USING candidates c
     WHERE c.id = b.candidate_id
       AND split_part(b.key, '|', 2) LIKE 'e:%'
       AND c.email_key IS NOT NULL
    RETURNING b.candidate_id, split_part(b.key, '|', 1) AS sig, c.email_key
), people AS (
    SELECT DISTINCT candidate_id, sig, email_key,
           rtrim(email_key, replace(email_key, '@', '')) AS upto
      FROM moved
), contacts AS (
    SELECT candidate_id, sig,
           substr(upto, 1, length(upto) - 1) AS local,
           substr(email_key, length(upto) + 1) AS domain
      FROM people
), sizes AS (
    SELECT candidate_id, sig, local, domain, length(local) AS n,
           greatest(length(local) - 2, 0) / 3 AS la,
           (greatest(length(local) - 2, 0) - greatest(length(local) - 2, 0) / 3) / 2 AS lb
      FROM contacts
), parts AS (
    SELECT candidate_id, sig || '|e:' || domain || ':' AS tag, n,
           substr(local, 1, la) AS a,
           substr(local, la + 2, lb) AS b,
           substr(local, n - (greatest(n - 2, 0) - la - lb) + 1) AS c
      FROM sizes
)
INSERT INTO candidate_blocks (key, candidate_id)
SELECT tag || 'ab' || n || ':' || a || b, candidate_id FROM parts
UNION ALL
SELECT tag || 'ac' || n || ':' || a || c, candidate_id FROM parts
UNION ALL
SELECT tag || 'bc' || n || ':' || b || c, candidate_id FROM parts;
