-- Fencing tokens for leases (the scale-out issue): every claim of an execution's lease
-- increments `lease_epoch`, and every unit a drive commits sets it to the drive's own token.
-- The token may never go down, so a process whose lease was taken over (a newer epoch) has
-- each of its commits aborted, whatever else that commit holds.
ALTER TABLE executions ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER executions_lease_fence BEFORE UPDATE OF lease_epoch ON executions
WHEN NEW.lease_epoch < OLD.lease_epoch
BEGIN
    SELECT RAISE(ABORT, 'wtb-fenced: the lease of this execution was taken over');
END;

-- Runnable work for `wtb worker`: running executions, oldest first. On `id`, which never
-- changes: an index on a column every exit updates (`updated_at`) would make those updates
-- non-HOT on PostgreSQL, rewriting every index of the row at every exit.
CREATE INDEX executions_runnable ON executions (id) WHERE status = 'running';
