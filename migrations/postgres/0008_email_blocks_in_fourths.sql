-- Email block keys move from halves of the local part (its first and its last (n - 1) / 2
-- characters) to fourths: the local part is cut into A · B · C · D with one character left out
-- between each two, and stored under every three of them, ABC, ABD, ACD and BCD (see near_keys in
-- src/who_is_who.rs). Halves put every `maria.santos…` of a domain in one block (some 440 people per
-- lookup with a million candidates, too many to be read: near addresses of common names were never
-- compared); three fourths of the address keep only those who share nearly all of it.
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
           greatest(length(local) - 3, 0) / 4 AS q,
           greatest(length(local) - 3, 0) % 4 AS r
      FROM contacts
), lengths AS (
    -- Four parts A B C D, one character left out between each two, the rest spread over the last.
    SELECT candidate_id, sig, local, domain, n, q AS la,
           q + CASE WHEN r >= 3 THEN 1 ELSE 0 END AS lb,
           q + CASE WHEN r >= 2 THEN 1 ELSE 0 END AS lc,
           q + CASE WHEN r >= 1 THEN 1 ELSE 0 END AS ld
      FROM sizes
), parts AS (
    SELECT candidate_id, sig || '|e:' || domain || ':' AS tag, n,
           substr(local, 1, la) AS a,
           substr(local, la + 2, lb) AS b,
           substr(local, la + lb + 3, lc) AS c,
           substr(local, la + lb + lc + 4, ld) AS d
      FROM lengths
)
INSERT INTO candidate_blocks (key, candidate_id)
SELECT tag || 'abc' || n || ':' || a || b || c, candidate_id FROM parts
UNION ALL
SELECT tag || 'abd' || n || ':' || a || b || d, candidate_id FROM parts
UNION ALL
SELECT tag || 'acd' || n || ':' || a || c || d, candidate_id FROM parts
UNION ALL
SELECT tag || 'bcd' || n || ':' || b || c || d, candidate_id FROM parts;
