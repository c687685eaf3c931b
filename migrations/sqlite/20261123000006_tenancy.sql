-- Multi-tenancy: per-tenant quotas (NULL: unlimited) and API tokens stored only as SHA-256
-- hashes of the secret, which is shown once at creation.
ALTER TABLE tenants ADD COLUMN max_concurrent INTEGER;
ALTER TABLE tenants ADD COLUMN max_stored_bytes INTEGER;
ALTER TABLE tenants ADD COLUMN max_nodes_per_hour INTEGER;

CREATE TABLE api_tokens (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, id);

-- `max_nodes_per_hour`: attempts of a tenant that ended in the last hour, found by end time.
CREATE INDEX node_boundaries_finished ON node_boundaries (finished_at) WHERE finished_at IS NOT NULL;
