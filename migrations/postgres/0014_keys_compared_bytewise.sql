-- Email and phone keys compare byte by byte, whatever the database's locale.
--
-- They are machine keys (a lower-cased address, E.164 digits): equal means the same bytes, and their
-- order means nothing to anyone. Under the database's collation (en_US.UTF-8, C.UTF-8, …) every
-- comparison in their two unique indexes went through the locale's strcoll, for each key a file
-- inserts or looks up, and the lookup's arrays of keys were sorted the same way; under "C" it is a
-- byte comparison. Equality, hence uniqueness, is unchanged: it was byte equality under any
-- deterministic collation already. The two indexes are rebuilt.
ALTER TABLE candidates
    ALTER COLUMN email_key TYPE TEXT COLLATE "C",
    ALTER COLUMN phone_key TYPE TEXT COLLATE "C";
-- Changing a column's type drops its statistics, and nothing would gather them again soon (the
-- change counts as no modification for autovacuum): gathered here, for the planner.
ANALYZE candidates;
