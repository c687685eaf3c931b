-- States stored as deltas (the workspaces issue): a checkpoint's `state` is either the whole
-- state (`state_parent_seq` NULL, a snapshot) or an RFC 6902 patch turning the state of the
-- checkpoint `state_parent_seq` of the same execution into this one's. The chain columns say
-- where the row sits in its chain, so the next checkpoint can decide how to store its own
-- (see `wtb_core::model::StateChain`): patches since the snapshot, their bytes, and the
-- snapshot's bytes. Rows written before this migration are snapshots.
ALTER TABLE checkpoints ADD COLUMN state_parent_seq INTEGER;
ALTER TABLE checkpoints ADD COLUMN state_chain_len INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN state_chain_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN state_base_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE checkpoints SET state_base_bytes = length(CAST(state AS BLOB));
