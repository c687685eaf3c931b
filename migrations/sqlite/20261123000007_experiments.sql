-- Experiments: a matrix of executions of one workflow (variants × environments × repetitions).
-- The cells are ordinary executions, tagged in their `environment` JSON with the experiment,
-- variant, environment and repetition, so history, diff and fork work on them; the index finds
-- an experiment's cells (and which ones already ran, for a resumed run).
CREATE TABLE experiments (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    file        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX experiments_tenant ON experiments (tenant_id, id);
CREATE INDEX executions_experiment ON executions (json_extract(environment, '$.cell.experiment')) WHERE environment IS NOT NULL;
