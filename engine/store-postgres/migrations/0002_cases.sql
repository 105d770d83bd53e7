-- Cases, their events, timers, idempotency keys and the change feed.
-- A case row holds the whole case (the store's codec) and its version,
-- the compare-and-swap every action writes against.

CREATE TABLE cases (
    id bigint PRIMARY KEY,
    version bigint NOT NULL,
    workflow text NOT NULL,
    state text NOT NULL,
    record bytea NOT NULL
);

CREATE TABLE events (
    case_id bigint NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- One global order of events: what WatchCases and webhooks read.
CREATE TABLE feed (
    sequence bigint PRIMARY KEY,
    case_id bigint NOT NULL,
    seq bigint NOT NULL
);

-- One timer a case (its earliest deadline), found by due time.
CREATE TABLE timers (
    case_id bigint NOT NULL,
    slot integer NOT NULL,
    due bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (case_id, slot)
);
CREATE INDEX timers_by_due ON timers (due, case_id, slot);

-- A report's idempotency key (workflow NUL key: bytes, since text cannot
-- hold NUL): the first case it made.
CREATE TABLE idempotency (
    key bytea PRIMARY KEY,
    hash text NOT NULL,
    case_id bigint NOT NULL
);
