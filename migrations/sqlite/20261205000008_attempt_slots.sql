-- Per-tenant cap on node attempts running at once in one process (fair attempt slots).
ALTER TABLE tenants ADD COLUMN max_running_attempts INTEGER;
