-- Outbox delivery: a commit-ordered position on every event, a per-sink cursor of what has been
-- turned into delivery rows, and per-sink delivery state (attempts, errors, leases).

-- `pos` numbers events in commit order and is never reused (AUTOINCREMENT), even after
-- retention GC deletes the newest rows, so a sink's cursor can never skip an event.
CREATE TABLE outbox_v2 (
    pos             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB NOT NULL UNIQUE,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id),
    execution_id    BLOB NOT NULL REFERENCES executions(id),
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    UNIQUE (execution_id, seq)
) STRICT;
INSERT INTO outbox_v2 (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at)
    SELECT id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at FROM outbox ORDER BY rowid;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;

-- Every event up to `pos` has a delivery row for `sink`.
CREATE TABLE outbox_cursors (
    sink    TEXT PRIMARY KEY,
    pos     INTEGER NOT NULL
) STRICT;

-- One row per event and sink. `execution_id`/`seq` are copied from the event so the relay can
-- find each execution's oldest undelivered event (FIFO per aggregate) from this table alone.
CREATE TABLE outbox_deliveries (
    event_id        BLOB NOT NULL REFERENCES outbox(id),
    sink            TEXT NOT NULL,
    execution_id    BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    pos             INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','delivered','dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    -- The relay process delivering it ("host:pid:nonce") and until when that claim holds.
    lease_owner     TEXT,
    lease_until     INTEGER,
    PRIMARY KEY (event_id, sink)
) STRICT, WITHOUT ROWID;
-- What is still to deliver, per sink and aggregate in order; covering, so a claim reads only
-- this index (the table's key, event_id, comes with every entry).
CREATE INDEX outbox_deliveries_open ON outbox_deliveries (sink, execution_id, seq, status, next_attempt_at, lease_until, pos) WHERE status <> 'delivered';
-- `wtb outbox list --status` and `stats`.
CREATE INDEX outbox_deliveries_status ON outbox_deliveries (status, sink, pos);
