-- The process whose drive has taken an execution's pending pause or cancel request (it acts on
-- it at the next node boundary). Cleared with the request. Lets a caller tell "requested" from
-- "seen by the run", instead of waiting and hoping.
ALTER TABLE executions ADD COLUMN control_seen_by TEXT;
