-- proletarian: a least-privilege PostgreSQL role for the application and its workers.
--
-- Run it as the tables' owner (the role that ran tables.sql or tables_bigint_ids.sql), after
-- them. The role may then enqueue (with or without the outbox), claim, run and finish jobs,
-- and inspect, retry, cancel and prune them: everything PostgresStore does except
-- install_schema(). It gets no DDL (no CREATE, ALTER, DROP; install the schema as its
-- owner, e.g. in your migrations), no TRUNCATE, no REFERENCES or TRIGGER, and no other table.
-- LISTEN and pg_notify need no grant. With tables_bigint_ids.sql (DatabaseIds) nothing more
-- is needed either: an identity column draws from its sequence without a grant on it.
--
-- Other names: replace proletarian_worker with your role, and proletarian with the schema
-- you gave PostgresStore(schema=...) (and job / archived_job / job_worker with its table names).
-- Creating the role and its authentication is yours to decide, for example:
--   CREATE ROLE proletarian_worker LOGIN PASSWORD '...';

GRANT USAGE ON SCHEMA proletarian TO proletarian_worker;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON proletarian.job, proletarian.archived_job, proletarian.job_worker, proletarian.job_key
    TO proletarian_worker;
