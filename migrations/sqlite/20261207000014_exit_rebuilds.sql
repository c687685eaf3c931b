-- Three costs of a node's exit that needed a table rebuild under other tables' references;
-- migrations now run with foreign keys off and are checked afterwards (`db/sqlite/connect.rs`).
--
-- 1. `executions` spells its status and control checks as equalities joined by OR, as
--    migration 12 did for the tables a node's exit writes: SQLite evaluates `IN (...)` of
--    three or more values by building a temporary b-tree of the list for every row it checks
--    (an execution's insert and its final status). Same rules; NULL passes both spellings.
-- 2. `outbox` drops the UNIQUE on `idempotency_key`. Every key is `<execution>:<seq>`
--    (`OutboxEvent::key_for`), so `UNIQUE (execution_id, seq)` already makes it unique; the
--    second index cost an insert into a text-keyed b-tree per event (2–3 per node).
--    The AUTOINCREMENT counter is carried over, so a position is never handed out twice.
-- 3. `node_boundaries_execution` indexes `execution_id` alone: an attempt's close sets its
--    `started_at` (when it was launched), which moved its entry in that index on every node.
--    Reads by execution sort their few rows by `started_at` themselves.

CREATE TABLE executions_v2 (
    id                   BLOB PRIMARY KEY,
    tenant_id            BLOB NOT NULL REFERENCES tenants(id),
    workflow_id          BLOB NOT NULL REFERENCES workflows(id),
    status               TEXT NOT NULL CHECK (status = 'pending' OR status = 'running' OR status = 'paused' OR status = 'completed' OR status = 'failed' OR status = 'cancelled'),
    cursor               TEXT,
    parent_checkpoint_id BLOB REFERENCES checkpoints(id),
    variant              TEXT,
    environment          TEXT,
    error                TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    control              TEXT CHECK (control = 'pause' OR control = 'cancel'),
    breakpoints          TEXT NOT NULL DEFAULT '{"before":[],"after":[]}',
    lease_owner          TEXT,
    lease_until          INTEGER,
    parent_execution_id  BLOB REFERENCES executions(id),
    control_seen_by      TEXT,
    lease_epoch          INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO executions_v2 (
    id, tenant_id, workflow_id, status, cursor, parent_checkpoint_id, variant, environment, error, created_at,
    updated_at, control, breakpoints, lease_owner, lease_until, parent_execution_id, control_seen_by, lease_epoch
)
SELECT
    id, tenant_id, workflow_id, status, cursor, parent_checkpoint_id, variant, environment, error, created_at,
    updated_at, control, breakpoints, lease_owner, lease_until, parent_execution_id, control_seen_by, lease_epoch
FROM executions;
DROP TABLE executions;
ALTER TABLE executions_v2 RENAME TO executions;
CREATE INDEX executions_tenant_status ON executions (tenant_id, status, id);
CREATE INDEX executions_control ON executions (id) WHERE control IS NOT NULL;
CREATE INDEX executions_tenant_id ON executions (tenant_id, id);
CREATE INDEX executions_tenant_workflow ON executions (tenant_id, workflow_id, id);
CREATE INDEX executions_tenant_parent ON executions (tenant_id, parent_execution_id, id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_tenant_fork ON executions (tenant_id, parent_checkpoint_id, id) WHERE parent_checkpoint_id IS NOT NULL;
CREATE INDEX executions_tenant_variant ON executions (tenant_id, variant, id) WHERE variant IS NOT NULL;
CREATE INDEX executions_experiment ON executions (json_extract(environment, '$.cell.experiment')) WHERE environment IS NOT NULL;
CREATE INDEX executions_runnable ON executions (id) WHERE status = 'running';
CREATE TRIGGER executions_lease_fence BEFORE UPDATE OF lease_epoch ON executions
WHEN NEW.lease_epoch < OLD.lease_epoch
BEGIN
    SELECT RAISE(ABORT, 'wtb-fenced: the lease of this execution was taken over');
END;

CREATE TABLE outbox_v2 (
    pos             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB NOT NULL UNIQUE,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id),
    execution_id    BLOB NOT NULL REFERENCES executions(id),
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (execution_id, seq)
) STRICT;
INSERT INTO outbox_v2 (pos, id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at)
SELECT pos, id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at FROM outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox_v2';
INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_v2', seq FROM sqlite_sequence WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;

DROP INDEX node_boundaries_execution;
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id);
