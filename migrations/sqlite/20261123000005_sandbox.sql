-- Sandbox accounting per attempt: what the disk quota charged (bytes of growth, new entries),
-- shown by `wtb show` beside memory and fuel.
ALTER TABLE node_boundaries ADD COLUMN disk_bytes INTEGER;
ALTER TABLE node_boundaries ADD COLUMN files_created INTEGER;
