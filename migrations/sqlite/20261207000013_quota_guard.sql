-- A start's guard that its tenant still has no quotas (the tenancy issue's quotas, checked at
-- start). A process that has seen a tenant without quotas starts its executions without
-- reading the tenant again: the start's unit inserts the tenant's id here only if one of its
-- quotas is set, and the trigger refuses that row, failing the unit; the process then reads
-- the tenant and checks its quotas before it starts again. The table never holds a row.
CREATE TABLE quota_guards (
    tenant_id BLOB NOT NULL
) STRICT;

CREATE TRIGGER quota_guards_refuse BEFORE INSERT ON quota_guards
BEGIN
    SELECT RAISE(ABORT, 'wtb-quotas-set: the tenant''s quotas were set since this process last read them');
END;
