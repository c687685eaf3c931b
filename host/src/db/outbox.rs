//! The outbox: events written in the same transaction as the change they describe.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{get, json, unsigned};
use crate::model::{EventId, EventKind, ExecutionId, OutboxEvent, TenantId, Timestamp};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

/// Inserts events (in order).
pub async fn insert_all(conn: &mut SqliteConnection, events: &[OutboxEvent]) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_all_into(&mut batch, events);
    batch.execute(conn).await
}

/// [`insert_all`], appended to a batch as multi-row statements.
pub fn insert_all_into(batch: &mut Batch<'_>, events: &[OutboxEvent]) {
    if events.is_empty() {
        return;
    }
    for part in events.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; part.len()].join(", ");
        batch.statement(&format!(
            "INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at) VALUES {rows}"
        ));
        for e in part {
            batch
                .bind(e.id.uuid())
                .bind(e.tenant.uuid())
                .bind(e.execution.uuid())
                .bind(i64::from(e.seq))
                .bind(e.kind.as_string())
                .bind(e.payload.to_string())
                .bind(e.idempotency_key.clone())
                .bind(e.created_at.micros());
        }
    }
}

/// An execution's events in order.
pub async fn list_for_execution(conn: &mut SqliteConnection, execution: ExecutionId) -> Result<Vec<OutboxEvent>, DbError> {
    list_after(conn, execution, 0).await
}

/// An execution's events with `seq` above `after`, in order (what a live stream has not sent).
pub async fn list_after(conn: &mut SqliteConnection, execution: ExecutionId, after: u32) -> Result<Vec<OutboxEvent>, DbError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE execution_id = ? AND seq > ? ORDER BY seq"))
        .bind(execution.uuid())
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(decode).collect()
}

/// The highest event seq of an execution (0 if none), to continue numbering after a restart.
pub async fn last_seq(conn: &mut SqliteConnection, execution: ExecutionId) -> Result<u32, DbError> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM outbox WHERE execution_id = ?")
        .bind(execution.uuid())
        .fetch_one(&mut *conn)
        .await?;
    unsigned(&row, "seq")
}

/// The columns [`decode`] reads.
pub(crate) const COLUMNS: &str = "id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at";

pub(crate) fn decode(r: &SqliteRow) -> Result<OutboxEvent, DbError> {
    let kind: String = get(r, "kind")?;
    Ok(OutboxEvent {
        id: EventId::from_uuid(get(r, "id")?),
        tenant: TenantId::from_uuid(get(r, "tenant_id")?),
        execution: ExecutionId::from_uuid(get(r, "execution_id")?),
        seq: unsigned(r, "seq")?,
        kind: EventKind::parse(&kind).ok_or(DbError::Corrupt { what: "kind", detail: kind.clone() })?,
        payload: json(r, "payload")?,
        idempotency_key: get(r, "idempotency_key")?,
        created_at: Timestamp::from_micros(get(r, "created_at")?),
    })
}

/// Events whose execution row is missing: `(event id, execution id)`.
pub async fn without_aggregate(conn: &mut SqliteConnection, tenant: TenantId) -> Result<Vec<(EventId, ExecutionId)>, DbError> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
        "SELECT o.id, o.execution_id FROM outbox o LEFT JOIN executions e ON e.id = o.execution_id WHERE o.tenant_id = ? AND e.id IS NULL",
    )
    .bind(tenant.uuid())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(e, x)| (EventId::from_uuid(e), ExecutionId::from_uuid(x))).collect())
}
