-- A start's guard that its tenant still has no quotas (as in SQLite's migration 13): a start
-- that assumes so inserts the tenant's id here only if one of its quotas is set, and the
-- trigger refuses the row, failing the start's unit. The table never holds a row.
CREATE TABLE quota_guards (
    tenant_id UUID NOT NULL
);

CREATE FUNCTION wtb_quota_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wtb-quotas-set: the quotas of tenant % were set since this process last read them',
        NEW.tenant_id USING ERRCODE = 'WTBQS';
END
$$;

CREATE TRIGGER quota_guards_refuse BEFORE INSERT ON quota_guards
FOR EACH ROW EXECUTE FUNCTION wtb_quota_guard();
