-- The workflow engine: branches (lanes), joins, pause/cancel requests, breakpoints, leases.

-- Which workspace clone (lane) a checkpoint's node ran in; the fork points it descends from
-- (JSON array of exit checkpoint ids, innermost last); the checkpoints it follows (JSON array).
ALTER TABLE checkpoints ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN forks TEXT NOT NULL DEFAULT '[]';
ALTER TABLE checkpoints ADD COLUMN parents TEXT NOT NULL DEFAULT '[]';

-- A request from another process, acted on at the next node boundary (pause) or at once (cancel).
ALTER TABLE executions ADD COLUMN control TEXT CHECK (control IN ('pause','cancel'));
-- {"before": [node ids], "after": [node ids]}
ALTER TABLE executions ADD COLUMN breakpoints TEXT NOT NULL DEFAULT '{"before":[],"after":[]}';
-- The process running the execution ("host:pid:nonce") and until when its claim holds.
ALTER TABLE executions ADD COLUMN lease_owner TEXT;
ALTER TABLE executions ADD COLUMN lease_until INTEGER;
CREATE INDEX executions_control ON executions (id) WHERE control IS NOT NULL;

-- Attempts can now be cancelled: rebuild node_boundaries with the wider status check.
CREATE TABLE node_boundaries_v2 (
    id                  BLOB PRIMARY KEY,
    execution_id        BLOB NOT NULL REFERENCES executions(id),
    node_id             TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    entry_checkpoint_id BLOB NOT NULL REFERENCES checkpoints(id),
    exit_checkpoint_id  BLOB REFERENCES checkpoints(id),
    status              TEXT NOT NULL CHECK (status IN ('running','succeeded','guest_error','trapped','invalid_output','cancelled')),
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
INSERT INTO node_boundaries_v2 SELECT * FROM node_boundaries;
DROP TABLE node_boundaries;
ALTER TABLE node_boundaries_v2 RENAME TO node_boundaries;
CREATE INDEX node_boundaries_execution ON node_boundaries (execution_id, started_at);
-- Open attempts: what a resume re-runs.
CREATE INDEX node_boundaries_open ON node_boundaries (execution_id) WHERE status = 'running';

-- A branch that reached a join and waits for the join's other inputs. Written in the branch's
-- exit transaction, deleted in the transaction that fires the join (whose entry checkpoint
-- lists them as parents). FIFO per edge, by the exit checkpoint's seq.
CREATE TABLE join_arrivals (
    execution_id    BLOB NOT NULL REFERENCES executions(id),
    edge            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    checkpoint_id   BLOB NOT NULL REFERENCES checkpoints(id),
    -- The branch's fork points (JSON array of checkpoint ids, innermost last).
    forks           TEXT NOT NULL,
    PRIMARY KEY (execution_id, edge, seq)
) STRICT, WITHOUT ROWID;
