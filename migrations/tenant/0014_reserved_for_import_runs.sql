-- Placeholder for the lead's 0014 (import runs), so that 0015 loads on this branch
-- (migration numbers must follow each other). Replaced by the lead's file at merge: delete this one.
SELECT 1;
