-- Time travel: rollback marks later history superseded (never deleted), forks name their
-- parent execution, and `wtb list` filters and pages through indexes.

-- A checkpoint or node attempt after a rollback point: kept for `wtb history`, ignored by the
-- engine. NULL while live.
ALTER TABLE checkpoints ADD COLUMN superseded_at INTEGER;
ALTER TABLE node_boundaries ADD COLUMN superseded_at INTEGER;

-- A join consumes its arrivals by marking them (a rollback to before the join puts them back).
ALTER TABLE join_arrivals ADD COLUMN consumed INTEGER NOT NULL DEFAULT 0 CHECK (consumed IN (0, 1));

-- The execution a fork was made from (its checkpoint is parent_checkpoint_id).
ALTER TABLE executions ADD COLUMN parent_execution_id BLOB REFERENCES executions(id);

-- `wtb list`: newest first by id (UUIDv7), per tenant, each filter with its own index.
CREATE INDEX executions_tenant_id ON executions (tenant_id, id);
CREATE INDEX executions_tenant_workflow ON executions (tenant_id, workflow_id, id);
CREATE INDEX executions_tenant_parent ON executions (tenant_id, parent_execution_id, id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_tenant_fork ON executions (tenant_id, parent_checkpoint_id, id) WHERE parent_checkpoint_id IS NOT NULL;
CREATE INDEX executions_tenant_variant ON executions (tenant_id, variant, id) WHERE variant IS NOT NULL;
CREATE INDEX workflows_tenant_name ON workflows (tenant_id, name);
