-- wangge on PostgreSQL, schema version 1. Applied at start in one
-- transaction (or by `wangge store migrate`); the version is recorded in
-- wangge_schema, and a server refuses a schema newer than it knows.
-- Portable to PostgreSQL >= 13 and the PostgreSQL-compatible databases:
-- plain tables, bigint/text/bytea, one sequence, no extensions.

CREATE TABLE wangge_schema (
    version integer NOT NULL
);

-- Stored values are the store's versioned codec (a format byte + JSON).
CREATE TABLE units (
    id text PRIMARY KEY,
    record bytea NOT NULL
);

CREATE TABLE people (
    id text PRIMARY KEY,
    record bytea NOT NULL
);

CREATE TABLE policies (
    hash text PRIMARY KEY,
    record bytea NOT NULL
);

-- The typed ledgers (activity, settlements, points, scores, audit, tasks):
-- raw keys, scanned by prefix as a key range.
CREATE TABLE ledger (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE settings (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
