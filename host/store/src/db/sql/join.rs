//! Join arrivals: branches that reached a join and wait for its other inputs.

use super::DbError;
use super::batch::Batch;
use super::merge::Phase;
use super::{Conn, query};
use crate::db::port::Arrival;
use wtb_core::model::{CheckpointId, ExecutionId, TenantId};

/// Records a branch waiting at a join (in its exit transaction).
pub fn insert_into(batch: &mut Batch, execution: ExecutionId, a: &Arrival) {
    batch
        .rows(
            Phase::Arrivals,
            "INSERT INTO join_arrivals (execution_id, edge, seq, checkpoint_id, forks)",
            "(?, ?, ?, ?, ?)",
            1,
            "",
        )
        .bind(execution.uuid())
        .bind(i64::from(a.edge))
        .bind(i64::from(a.seq))
        .bind(a.checkpoint.uuid())
        .bind(super::checkpoint::ids_json(&a.forks));
}

/// Marks an arrival consumed by its join (in the transaction that fires it), or — after a
/// rollback to before the join — waiting again.
pub fn set_consumed_into(batch: &mut Batch, execution: ExecutionId, a: &Arrival, consumed: bool) {
    batch
        .statement_in(
            Phase::Consumptions,
            "UPDATE join_arrivals SET consumed = ? WHERE execution_id = ? AND edge = ? AND seq = ?",
        )
        .bind(i64::from(consumed))
        .bind(execution.uuid())
        .bind(i64::from(a.edge))
        .bind(i64::from(a.seq));
}

/// Removes an arrival whose exit checkpoint a rollback superseded.
pub fn delete_into(batch: &mut Batch, execution: ExecutionId, a: &Arrival) {
    batch
        .statement("DELETE FROM join_arrivals WHERE execution_id = ? AND edge = ? AND seq = ?")
        .bind(execution.uuid())
        .bind(i64::from(a.edge))
        .bind(i64::from(a.seq));
}

/// Every arrival of an execution, consumed or not (what a rollback re-decides).
pub async fn list_all(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<Arrival>, DbError> {
    list(db, tenant, execution, "").await
}

/// The branches waiting at joins, FIFO per edge: what a resume puts back.
pub async fn list_for_execution(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<Arrival>, DbError> {
    list(db, tenant, execution, "AND consumed = 0").await
}

async fn list(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
    filter: &str,
) -> Result<Vec<Arrival>, DbError> {
    let sql = format!(
        "SELECT edge, seq, checkpoint_id, forks FROM join_arrivals WHERE execution_id = ? {filter}
         AND EXISTS (SELECT 1 FROM executions e WHERE e.id = join_arrivals.execution_id AND e.tenant_id = ?)
         ORDER BY edge, seq"
    );
    let rows: Vec<(i64, i64, uuid::Uuid, String)> =
        query(sql).bind(execution.uuid()).bind(tenant.uuid()).fetch_all(db).await?;
    rows.into_iter()
        .map(|(edge, seq, c, forks)| {
            let bad = |what: &'static str| DbError::Corrupt { what, detail: "out of range".into() };
            Ok(Arrival {
                edge: u32::try_from(edge).map_err(|_| bad("edge"))?,
                seq: u32::try_from(seq).map_err(|_| bad("seq"))?,
                checkpoint: CheckpointId::from_uuid(c),
                forks: super::checkpoint::parse_ids("forks", &forks)?,
            })
        })
        .collect()
}
