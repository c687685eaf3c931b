-- Fencing tokens for leases (the scale-out issue): every claim of an execution's lease
-- increments `lease_epoch`, and every unit a drive commits sets it to the drive's own token.
-- The token may never go down, so a process whose lease was taken over (a newer epoch) has
-- each of its commits aborted, whatever else that commit holds.
ALTER TABLE executions ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION wtb_lease_fence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wtb-fenced: the lease of execution % was taken over (token %, now %)',
        OLD.id, NEW.lease_epoch, OLD.lease_epoch USING ERRCODE = 'WTBFN';
END
$$;

CREATE TRIGGER executions_lease_fence BEFORE UPDATE OF lease_epoch ON executions
FOR EACH ROW WHEN (NEW.lease_epoch < OLD.lease_epoch) EXECUTE FUNCTION wtb_lease_fence();

-- Runnable work for `wtb worker`: running executions, oldest first. On `id`, which never
-- changes: an index on a column every exit updates (`updated_at`) would make those updates
-- non-HOT on PostgreSQL, rewriting every index of the row at every exit.
CREATE INDEX executions_runnable ON executions (id) WHERE status = 'running';
