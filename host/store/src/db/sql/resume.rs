//! What a drive needs to pick executions up again: each execution row, its breakpoints and
//! pending request, how far its checkpoints and events go, its tenant (whose quotas the drive
//! keeps checking), and its open attempts with their entry checkpoints and file commits.
//! A worker reads this for every batch of executions it claims: five statements for the
//! batch, where one execution at a time cost five each.

use super::execution::{COLUMNS, Row};
use super::many::{PAIRS_PER_READ, bind_pairs, pairs, qualified};
use super::{Conn, DbError, boundary, checkpoint, file_commit, query};
use crate::db::port::{OpenAttempt, ResumeFacts};
use std::collections::HashMap;
use wtb_core::model::{Execution, ExecutionId, Tenant, TenantId};

/// The execution row and what else `Row` carries for a resume.
#[derive(sqlx_macros::FromRow)]
struct FactsRow {
    #[sqlx(flatten)]
    row: Row,
    breakpoints: String,
    control: Option<String>,
    checkpoint_seq: i64,
    entries: i64,
    event_seq: i64,
    tenant_name: String,
    tenant_created_at: i64,
    max_concurrent: Option<i64>,
    max_stored_bytes: Option<i64>,
    max_nodes_per_hour: Option<i64>,
    max_running_attempts: Option<i64>,
}

/// The resume facts of each execution of `which` (named with its tenant); another tenant's
/// or an unknown one is left out.
pub async fn resume_facts(
    db: &mut Conn<'_>,
    which: &[(TenantId, ExecutionId)],
) -> Result<Vec<ResumeFacts>, DbError> {
    let mut out = Vec::with_capacity(which.len());
    for part in which.chunks(PAIRS_PER_READ) {
        out.extend(facts_of(db, part).await?);
    }
    Ok(out)
}

async fn facts_of(db: &mut Conn<'_>, which: &[(TenantId, ExecutionId)]) -> Result<Vec<ResumeFacts>, DbError> {
    let sql = format!(
        "SELECT {}, e.breakpoints, e.control,
            (SELECT COALESCE(MAX(seq), 0) FROM checkpoints c WHERE c.execution_id = e.id) AS checkpoint_seq,
            (SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'entry' AND superseded_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)
               FROM checkpoints c WHERE c.execution_id = e.id) AS entries,
            (SELECT COALESCE(MAX(seq), 0) FROM outbox o WHERE o.execution_id = e.id) AS event_seq,
            t.name AS tenant_name, t.created_at AS tenant_created_at, t.max_concurrent,
            t.max_stored_bytes, t.max_nodes_per_hour, t.max_running_attempts
         FROM executions e JOIN tenants t ON t.id = e.tenant_id WHERE {}",
        qualified(COLUMNS, "e"),
        pairs("e", which.len())
    );
    let named = which.iter().map(|(t, e)| (t.uuid(), e.uuid()));
    let rows = bind_pairs(query(sql), named).fetch_all::<FactsRow>(db).await?;
    let mut facts = rows.into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    // Only the pairs that named an execution of its own tenant go on.
    let found: Vec<_> = facts.iter().map(|f| (f.execution.tenant, f.execution.id)).collect();
    let mut open = open_attempts(db, &found).await?;
    for f in &mut facts {
        f.open = open.remove(&f.execution.id).unwrap_or_default();
    }
    Ok(facts)
}

/// The open attempts of `which` (each execution named with its own tenant) by execution,
/// each with its entry and that entry's commit.
async fn open_attempts(
    db: &mut Conn<'_>,
    which: &[(TenantId, ExecutionId)],
) -> Result<HashMap<ExecutionId, Vec<OpenAttempt>>, DbError> {
    let boundaries = boundary::list_open_of(db, which).await?;
    if boundaries.is_empty() {
        return Ok(HashMap::new());
    }
    let entries: HashMap<_, _> =
        checkpoint::open_entries_of(db, which).await?.into_iter().map(|c| (c.id, c)).collect();
    let tenant_of: HashMap<ExecutionId, TenantId> = which.iter().map(|(t, e)| (*e, *t)).collect();
    let mut wanted: Vec<_> =
        entries.values().filter_map(|c| Some((*tenant_of.get(&c.execution)?, c.file_commit))).collect();
    wanted.sort_unstable_by_key(|(_, c)| *c);
    wanted.dedup();
    let commits: HashMap<_, _> =
        file_commit::get_many(db, &wanted).await?.into_iter().map(|c| (c.id, c)).collect();
    let mut out: HashMap<ExecutionId, Vec<OpenAttempt>> = HashMap::new();
    for b in boundaries {
        let corrupt = |what: &'static str, detail: String| DbError::Corrupt { what, detail };
        let entry = entries
            .get(&b.entry_checkpoint)
            .cloned()
            .ok_or_else(|| corrupt("entry checkpoint", b.entry_checkpoint.to_string()))?;
        let commit = commits.get(&entry.file_commit).cloned().ok_or_else(|| {
            corrupt(
                "file commit",
                format!("checkpoint {} names missing commit {}", entry.id, entry.file_commit),
            )
        })?;
        out.entry(b.execution).or_default().push(OpenAttempt { boundary: b, entry, commit });
    }
    Ok(out)
}

fn decode(r: FactsRow) -> Result<ResumeFacts, DbError> {
    let counter = |what: &'static str, v: i64| {
        u32::try_from(v).map_err(|_| DbError::Corrupt { what, detail: v.to_string() })
    };
    let breakpoints = serde_json::from_str(&r.breakpoints)
        .map_err(|e| DbError::Corrupt { what: "breakpoints", detail: e.to_string() })?;
    let tenant = super::tenant::Row {
        id: r.row.tenant_id,
        name: r.tenant_name,
        created_at: r.tenant_created_at,
        max_concurrent: r.max_concurrent,
        max_stored_bytes: r.max_stored_bytes,
        max_nodes_per_hour: r.max_nodes_per_hour,
        max_running_attempts: r.max_running_attempts,
    };
    Ok(ResumeFacts {
        tenant: Tenant::try_from(tenant)?,
        checkpoint_seq: counter("checkpoint seq", r.checkpoint_seq)?,
        entries: counter("checkpoint entries", r.entries)?,
        event_seq: counter("event seq", r.event_seq)?,
        breakpoints,
        control: r.control,
        execution: Execution::try_from(r.row)?,
        open: Vec::new(),
    })
}
