-- Several servers on one database (schema version 3).

-- Case ids: each server takes a block of 64 at a time from one sequence,
-- so no two servers hand out the same id.
CREATE SEQUENCE case_ids INCREMENT BY 64 MINVALUE 1 START WITH 1;
SELECT setval('case_ids', (SELECT coalesce(max(id), 0) + 1 FROM cases), false);

-- The change feed's next sequence, one row. A writing transaction takes
-- its sequences from it last, just before it commits: the row lock it
-- holds until then makes the feed's order the order of commits, so a
-- reader that has seen sequence N has seen everything before it.
CREATE TABLE feed_head (
    one integer PRIMARY KEY CHECK (one = 1),
    next bigint NOT NULL
);
INSERT INTO feed_head (one, next) SELECT 1, coalesce(max(sequence), 0) + 1 FROM feed;

-- Timer leases: a server claims due timers (FOR UPDATE SKIP LOCKED) for a
-- while; a dead server's leases run out and another server takes them.
ALTER TABLE timers ADD COLUMN lease_owner text;
ALTER TABLE timers ADD COLUMN lease_until timestamptz;
