-- As SQLite's migration 14 (the executions' checks are SQLite's concern alone):
-- `idempotency_key` is `<execution>:<seq>` (`OutboxEvent::key_for`), so `UNIQUE (execution_id,
-- seq)` already makes it unique and its own index only cost an insert per event; and
-- `node_boundaries_execution` indexes `execution_id` alone, so an attempt's close (which sets
-- its `started_at`) no longer moves its entry.
ALTER TABLE outbox DROP CONSTRAINT outbox_idempotency_key_key;
DROP INDEX node_boundaries_execution;
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id);
