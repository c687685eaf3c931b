-- WTB schema on PostgreSQL: the final shape of migrations/sqlite/ (1 to 9) in one step. Ids are
-- UUIDs; times are microseconds since the Unix epoch (BIGINT); JSON is TEXT, so both backends
-- store the same text and share one set of statements (host/store/src/db/sql/). Every integer
-- is BIGINT, as SQLite's INTEGER. Foreign keys are DEFERRABLE: retention deletes executions,
-- checkpoints and forks that refer to each other in one transaction, checked at its commit.

CREATE TABLE tenants (
    id                   UUID PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    created_at           BIGINT NOT NULL,
    max_concurrent       BIGINT,
    max_stored_bytes     BIGINT,
    max_nodes_per_hour   BIGINT,
    max_running_attempts BIGINT
);
INSERT INTO tenants (id, name, created_at) VALUES ('00000000-0000-7000-8000-000000000001', 'default', 0);

CREATE TABLE components (
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);

CREATE TABLE workflows (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, digest)
);
CREATE INDEX workflows_tenant_name ON workflows (tenant_id, name);

CREATE TABLE blobs (
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    inline_data BYTEA,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);

-- The whole tree (JSON) on snapshot commits; NULL on the others (rebuilt from file_changes).
CREATE TABLE file_commits (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    parent_id   UUID REFERENCES file_commits(id) DEFERRABLE,
    depth       BIGINT NOT NULL,
    tree        TEXT,
    file_count  BIGINT NOT NULL,
    total_bytes BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE file_changes (
    commit_id   UUID NOT NULL REFERENCES file_commits(id) DEFERRABLE,
    path        TEXT NOT NULL,
    change      TEXT NOT NULL CHECK (change IN ('added','modified','deleted')),
    kind        TEXT CHECK (kind IN ('file','dir','symlink')),
    digest      TEXT,
    size        BIGINT,
    mode        BIGINT,
    PRIMARY KEY (commit_id, path)
);

CREATE TABLE executions (
    id                   UUID PRIMARY KEY,
    tenant_id            UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    workflow_id          UUID NOT NULL REFERENCES workflows(id) DEFERRABLE,
    status               TEXT NOT NULL CHECK (status IN ('pending','running','paused','completed','failed','cancelled')),
    cursor               TEXT,
    parent_checkpoint_id UUID,
    parent_execution_id  UUID REFERENCES executions(id) DEFERRABLE,
    variant              TEXT,
    environment          TEXT,
    error                TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    control              TEXT CHECK (control IN ('pause','cancel')),
    breakpoints          TEXT NOT NULL DEFAULT '{"before":[],"after":[]}',
    lease_owner          TEXT,
    lease_until          BIGINT,
    control_seen_by      TEXT
);
CREATE INDEX executions_tenant_status ON executions (tenant_id, status, id);
CREATE INDEX executions_control ON executions (id) WHERE control IS NOT NULL;
CREATE INDEX executions_tenant_id ON executions (tenant_id, id);
CREATE INDEX executions_tenant_workflow ON executions (tenant_id, workflow_id, id);
CREATE INDEX executions_tenant_parent ON executions (tenant_id, parent_execution_id, id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_tenant_fork ON executions (tenant_id, parent_checkpoint_id, id) WHERE parent_checkpoint_id IS NOT NULL;
CREATE INDEX executions_tenant_variant ON executions (tenant_id, variant, id) WHERE variant IS NOT NULL;
CREATE INDEX executions_experiment ON executions ((environment::jsonb #>> '{cell,experiment}')) WHERE environment IS NOT NULL;
CREATE INDEX executions_lease ON executions (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE checkpoints (
    id              UUID PRIMARY KEY,
    execution_id    UUID NOT NULL REFERENCES executions(id) DEFERRABLE,
    seq             BIGINT NOT NULL,
    node_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('entry','exit')),
    attempt         BIGINT NOT NULL,
    state           TEXT NOT NULL,
    file_commit_id  UUID NOT NULL REFERENCES file_commits(id) DEFERRABLE,
    created_at      BIGINT NOT NULL,
    lane            BIGINT NOT NULL DEFAULT 0,
    forks           TEXT NOT NULL DEFAULT '[]',
    parents         TEXT NOT NULL DEFAULT '[]',
    superseded_at   BIGINT,
    UNIQUE (execution_id, seq)
);
ALTER TABLE executions ADD FOREIGN KEY (parent_checkpoint_id) REFERENCES checkpoints(id) DEFERRABLE;

CREATE TABLE node_boundaries (
    id                  UUID PRIMARY KEY,
    execution_id        UUID NOT NULL REFERENCES executions(id) DEFERRABLE,
    node_id             TEXT NOT NULL,
    attempt             BIGINT NOT NULL,
    entry_checkpoint_id UUID NOT NULL REFERENCES checkpoints(id) DEFERRABLE,
    exit_checkpoint_id  UUID REFERENCES checkpoints(id) DEFERRABLE,
    status              TEXT NOT NULL CHECK (status IN ('running','succeeded','guest_error','trapped','invalid_output','cancelled')),
    trap_kind           TEXT,
    error               TEXT,
    started_at          BIGINT NOT NULL,
    finished_at         BIGINT,
    guest_micros        BIGINT,
    peak_memory_bytes   BIGINT,
    fuel_used           BIGINT,
    stdout              TEXT NOT NULL DEFAULT '',
    stderr              TEXT NOT NULL DEFAULT '',
    superseded_at       BIGINT,
    disk_bytes          BIGINT,
    files_created       BIGINT
);
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id, started_at);
CREATE INDEX node_boundaries_open ON node_boundaries (execution_id) WHERE status = 'running';
CREATE INDEX node_boundaries_finished ON node_boundaries (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE join_arrivals (
    execution_id    UUID NOT NULL REFERENCES executions(id) DEFERRABLE,
    edge            BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    checkpoint_id   UUID NOT NULL REFERENCES checkpoints(id) DEFERRABLE,
    forks           TEXT NOT NULL,
    consumed        BIGINT NOT NULL DEFAULT 0 CHECK (consumed IN (0, 1)),
    PRIMARY KEY (execution_id, edge, seq)
);

-- `pos` numbers events in commit order. It is NULL when an event is inserted and given by a
-- relay once the event committed (`outbox_pos`, one relay at a time), so a sink's cursor can
-- never pass an event that commits later, and writers take no lock for it.
CREATE SEQUENCE outbox_pos;
CREATE TABLE outbox (
    pos             BIGINT UNIQUE,
    id              UUID NOT NULL UNIQUE,
    tenant_id       UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    execution_id    UUID NOT NULL REFERENCES executions(id) DEFERRABLE,
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    UNIQUE (execution_id, seq)
);
CREATE INDEX outbox_unsequenced ON outbox (created_at, execution_id, seq) WHERE pos IS NULL;

CREATE TABLE outbox_cursors (
    sink    TEXT PRIMARY KEY,
    pos     BIGINT NOT NULL
);

CREATE TABLE outbox_deliveries (
    event_id        UUID NOT NULL REFERENCES outbox(id) DEFERRABLE,
    sink            TEXT NOT NULL,
    execution_id    UUID NOT NULL,
    seq             BIGINT NOT NULL,
    pos             BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','delivered','dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    PRIMARY KEY (event_id, sink)
);
CREATE INDEX outbox_deliveries_open ON outbox_deliveries (sink, execution_id, seq) INCLUDE (status, next_attempt_at, lease_until, pos) WHERE status <> 'delivered';
CREATE INDEX outbox_deliveries_status ON outbox_deliveries (status, sink, pos);

CREATE TABLE api_tokens (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, id);

CREATE TABLE experiments (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) DEFERRABLE,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    file        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX experiments_tenant ON experiments (tenant_id, id);
