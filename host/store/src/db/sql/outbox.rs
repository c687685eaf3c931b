//! The outbox: events written in the same transaction as the change they describe.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{from_json, in_range};
use super::merge::Phase;
use super::{Conn, query};
use wtb_core::model::{EventId, EventKind, ExecutionId, OutboxEvent, TenantId, Timestamp};

/// Inserts events (in order).
pub async fn insert_all(db: &mut Conn<'_>, events: &[OutboxEvent]) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_all_into(&mut batch, events);
    batch.execute(db).await
}

/// [`insert_all`], appended to a batch as multi-row statements.
pub fn insert_all_into(batch: &mut Batch, events: &[OutboxEvent]) {
    if events.is_empty() {
        return;
    }
    for part in events.chunks(ROWS_PER_STATEMENT) {
        batch.rows(
            Phase::Events,
            "INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at)",
            "(?, ?, ?, ?, ?, ?, ?, ?)",
            part.len(),
            "",
        );
        for e in part {
            batch
                .bind(e.id.uuid())
                .bind(e.tenant.uuid())
                .bind(e.execution.uuid())
                .bind(i64::from(e.seq))
                .bind(e.kind.as_string())
                // Not `Value`'s `Display`, which grows its text a few bytes at a time:
                // serde_json's writer starts with room for a typical payload.
                .bind(serde_json::to_string(&e.payload).unwrap_or_else(|_| e.payload.to_string()))
                .bind(e.idempotency_key.clone())
                .bind(e.created_at.micros());
        }
    }
}

/// An execution's events in order.
pub async fn list_for_execution(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
) -> Result<Vec<OutboxEvent>, DbError> {
    list_after(db, tenant, execution, 0).await
}

/// An execution's events with `seq` above `after`, in order (what a live stream has not sent).
pub async fn list_after(
    db: &mut Conn<'_>,
    tenant: TenantId,
    execution: ExecutionId,
    after: u32,
) -> Result<Vec<OutboxEvent>, DbError> {
    let rows = query(format!(
        "SELECT {COLUMNS} FROM outbox WHERE execution_id = ? AND seq > ? AND tenant_id = ? ORDER BY seq"
    ))
    .bind(execution.uuid())
    .bind(i64::from(after))
    .bind(tenant.uuid())
    .fetch_all::<Row>(db)
    .await?;
    rows.into_iter().map(OutboxEvent::try_from).collect()
}

/// The highest event seq of an execution (0 if none), to continue numbering after a restart.
pub async fn last_seq(db: &mut Conn<'_>, tenant: TenantId, execution: ExecutionId) -> Result<u32, DbError> {
    let sql = "SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE execution_id = ? AND tenant_id = ?";
    let seq: i64 = query(sql).bind(execution.uuid()).bind(tenant.uuid()).scalar(db).await?;
    in_range("seq", seq)
}

/// The columns [`Row`] reads.
pub(crate) const COLUMNS: &str =
    "id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at";

/// An `outbox` row as stored (the columns of [`COLUMNS`]).
#[derive(sqlx_macros::FromRow)]
pub(crate) struct Row {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    execution_id: uuid::Uuid,
    seq: i64,
    kind: String,
    payload: String,
    idempotency_key: String,
    created_at: i64,
}

impl TryFrom<Row> for OutboxEvent {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(OutboxEvent {
            id: EventId::from_uuid(r.id),
            tenant: TenantId::from_uuid(r.tenant_id),
            execution: ExecutionId::from_uuid(r.execution_id),
            seq: in_range("seq", r.seq)?,
            kind: EventKind::parse(&r.kind)
                .ok_or(DbError::Corrupt { what: "kind", detail: r.kind.clone() })?,
            payload: from_json("payload", &r.payload)?,
            idempotency_key: r.idempotency_key,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

/// Events whose execution row is missing: `(event id, execution id)`.
pub async fn without_aggregate(
    db: &mut Conn<'_>,
    tenant: TenantId,
) -> Result<Vec<(EventId, ExecutionId)>, DbError> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> = query(
        "SELECT o.id, o.execution_id FROM outbox o LEFT JOIN executions e ON e.id = o.execution_id WHERE o.tenant_id = ? AND e.id IS NULL",
    )
    .bind(tenant.uuid())
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(e, x)| (EventId::from_uuid(e), ExecutionId::from_uuid(x))).collect())
}
