-- The status and kind checks of the tables a node's exit writes, spelled as equalities joined
-- by OR instead of `IN (...)` lists. SQLite evaluates a CHECK's IN list of three or more
-- values by building a temporary b-tree of the list for every row it inserts or updates:
-- about 5 µs per row, four times per node (the attempt's insert and its close, and two checks
-- per changed file), about a sixth of the commit writer's time on short nodes. The rules are the
-- same (NULL passes both spellings); SQLite cannot alter a CHECK in place, so each table is
-- rebuilt. No table references these three, so the rebuild needs no foreign-key pause.

CREATE TABLE node_boundaries_v3 (
    id                  BLOB PRIMARY KEY,
    execution_id        BLOB NOT NULL REFERENCES executions(id),
    node_id             TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    entry_checkpoint_id BLOB NOT NULL REFERENCES checkpoints(id),
    exit_checkpoint_id  BLOB REFERENCES checkpoints(id),
    status              TEXT NOT NULL CHECK (status = 'running' OR status = 'succeeded' OR status = 'guest_error' OR status = 'trapped' OR status = 'invalid_output' OR status = 'cancelled'),
    trap_kind           TEXT,
    error               TEXT,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    guest_micros        INTEGER,
    peak_memory_bytes   INTEGER,
    fuel_used           INTEGER,
    stdout              TEXT NOT NULL DEFAULT '',
    stderr              TEXT NOT NULL DEFAULT '',
    superseded_at       INTEGER,
    disk_bytes          INTEGER,
    files_created       INTEGER
) STRICT;
INSERT INTO node_boundaries_v3 (
    id, execution_id, node_id, attempt, entry_checkpoint_id, exit_checkpoint_id, status, trap_kind, error,
    started_at, finished_at, guest_micros, peak_memory_bytes, fuel_used, stdout, stderr, superseded_at,
    disk_bytes, files_created
)
SELECT
    id, execution_id, node_id, attempt, entry_checkpoint_id, exit_checkpoint_id, status, trap_kind, error,
    started_at, finished_at, guest_micros, peak_memory_bytes, fuel_used, stdout, stderr, superseded_at,
    disk_bytes, files_created
FROM node_boundaries;
DROP TABLE node_boundaries;
ALTER TABLE node_boundaries_v3 RENAME TO node_boundaries;
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id, started_at);
CREATE INDEX node_boundaries_open ON node_boundaries (execution_id) WHERE status = 'running';
CREATE INDEX node_boundaries_finished ON node_boundaries (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE file_changes_v2 (
    commit_id   BLOB NOT NULL REFERENCES file_commits(id),
    path        TEXT NOT NULL,
    change      TEXT NOT NULL CHECK (change = 'added' OR change = 'modified' OR change = 'deleted'),
    kind        TEXT CHECK (kind = 'file' OR kind = 'dir' OR kind = 'symlink'),
    digest      TEXT,
    size        INTEGER,
    mode        INTEGER,
    PRIMARY KEY (commit_id, path)
) STRICT, WITHOUT ROWID;
INSERT INTO file_changes_v2 (commit_id, path, change, kind, digest, size, mode)
SELECT commit_id, path, change, kind, digest, size, mode FROM file_changes;
DROP TABLE file_changes;
ALTER TABLE file_changes_v2 RENAME TO file_changes;

CREATE TABLE outbox_deliveries_v2 (
    event_id        BLOB NOT NULL REFERENCES outbox(id),
    sink            TEXT NOT NULL,
    execution_id    BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    pos             INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'dead'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    PRIMARY KEY (event_id, sink)
) STRICT, WITHOUT ROWID;
INSERT INTO outbox_deliveries_v2 (
    event_id, sink, execution_id, seq, pos, status, attempts, last_error, next_attempt_at, delivered_at,
    lease_owner, lease_until
)
SELECT
    event_id, sink, execution_id, seq, pos, status, attempts, last_error, next_attempt_at, delivered_at,
    lease_owner, lease_until
FROM outbox_deliveries;
DROP TABLE outbox_deliveries;
ALTER TABLE outbox_deliveries_v2 RENAME TO outbox_deliveries;
CREATE INDEX outbox_deliveries_open ON outbox_deliveries (sink, execution_id, seq, status, next_attempt_at, lease_until, pos) WHERE status <> 'delivered';
CREATE INDEX outbox_deliveries_status ON outbox_deliveries (status, sink, pos);
