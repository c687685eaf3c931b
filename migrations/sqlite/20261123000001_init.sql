-- WTB schema, first cut. Ids are UUIDv7 stored as 16-byte BLOBs; times are microseconds since
-- the Unix epoch; JSON is TEXT. The domain types in host/src/model/ map 1:1 onto these tables,
-- and tests/all/roundtrip.rs checks every one of them round-trips.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

INSERT INTO tenants (id, name, created_at)
VALUES (X'00000000000070008000000000000001', 'default', 0);

CREATE TABLE components (
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    digest      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, digest)
) STRICT, WITHOUT ROWID;

CREATE TABLE workflows (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, digest)
) STRICT;

CREATE TABLE executions (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id),
    workflow_id         BLOB NOT NULL REFERENCES workflows(id),
    status              TEXT NOT NULL CHECK (status IN ('pending','running','paused','completed','failed','cancelled')),
    cursor              TEXT,
    parent_checkpoint_id BLOB REFERENCES checkpoints(id),
    variant             TEXT,
    environment         TEXT,
    error               TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX executions_tenant_status ON executions (tenant_id, status, id);

CREATE TABLE blobs (
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    digest      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    inline_data BLOB,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, digest)
) STRICT, WITHOUT ROWID;

CREATE TABLE file_commits (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    parent_id   BLOB REFERENCES file_commits(id),
    depth       INTEGER NOT NULL,
    -- The whole tree (JSON) on snapshot commits (depth % 16 = 0); NULL on the others, which
    -- are rebuilt from the nearest snapshot ancestor plus file_changes.
    tree        TEXT,
    file_count  INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE file_changes (
    commit_id   BLOB NOT NULL REFERENCES file_commits(id),
    path        TEXT NOT NULL,
    change      TEXT NOT NULL CHECK (change IN ('added','modified','deleted')),
    kind        TEXT CHECK (kind IN ('file','dir','symlink')),
    digest      TEXT,
    size        INTEGER,
    mode        INTEGER,
    PRIMARY KEY (commit_id, path)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    id              BLOB PRIMARY KEY,
    execution_id    BLOB NOT NULL REFERENCES executions(id),
    seq             INTEGER NOT NULL,
    node_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('entry','exit')),
    attempt         INTEGER NOT NULL,
    state           TEXT NOT NULL,
    file_commit_id  BLOB NOT NULL REFERENCES file_commits(id),
    created_at      INTEGER NOT NULL,
    UNIQUE (execution_id, seq)
) STRICT;

CREATE TABLE node_boundaries (
    id                  BLOB PRIMARY KEY,
    execution_id        BLOB NOT NULL REFERENCES executions(id),
    node_id             TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    entry_checkpoint_id BLOB NOT NULL REFERENCES checkpoints(id),
    exit_checkpoint_id  BLOB REFERENCES checkpoints(id),
    status              TEXT NOT NULL CHECK (status IN ('running','succeeded','guest_error','trapped','invalid_output')),
    trap_kind           TEXT,
    error               TEXT,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    guest_micros        INTEGER,
    peak_memory_bytes   INTEGER,
    fuel_used           INTEGER,
    stdout              TEXT NOT NULL DEFAULT '',
    stderr              TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id, started_at);

CREATE TABLE outbox (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id),
    execution_id    BLOB NOT NULL REFERENCES executions(id),
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    UNIQUE (execution_id, seq)
) STRICT;
