//! What operators see and do with deliveries: list them with filters, count them per sink,
//! revive dead ones.

use super::cursor;
use crate::db::DbError;
use crate::db::port::{DeliveryFilter, DeliveryRow, SinkCounts};
use crate::db::sql::decode::{in_range, parsed};
use crate::db::sql::{Conn, query};
use wtb_core::model::{EventId, ExecutionId, TenantId, Timestamp};

/// A tenant's deliveries, oldest event first.
pub async fn list(
    db: &mut Conn<'_>,
    tenant: TenantId,
    filter: &DeliveryFilter,
    limit: u32,
) -> Result<Vec<DeliveryRow>, DbError> {
    let mut q = query(
        "SELECT d.event_id, d.execution_id, d.seq, o.kind, o.idempotency_key, d.sink, d.status, d.attempts, d.last_error, d.next_attempt_at, d.delivered_at, o.created_at, d.pos
         FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id WHERE o.tenant_id = ",
    );
    q.push_bind(tenant.uuid());
    if let Some(s) = filter.status {
        q.push(" AND d.status = ").push_bind(s.as_str());
    }
    if let Some(s) = &filter.sink {
        q.push(" AND d.sink = ").push_bind(s.clone());
    }
    if let Some(x) = filter.execution {
        q.push(" AND d.execution_id = ").push_bind(x.uuid());
    }
    if let Some(p) = filter.after_pos {
        q.push(" AND d.pos > ").push_bind(p);
    }
    q.push(" ORDER BY d.pos, d.sink LIMIT ").push_bind(i64::from(limit));
    let rows = q.fetch_all::<Row>(db).await?;
    rows.into_iter().map(DeliveryRow::try_from).collect()
}

/// A delivery joined with its event, as stored.
#[derive(sqlx_macros::FromRow)]
struct Row {
    event_id: uuid::Uuid,
    execution_id: uuid::Uuid,
    seq: i64,
    kind: String,
    idempotency_key: String,
    sink: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    created_at: i64,
    pos: i64,
}

impl TryFrom<Row> for DeliveryRow {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(DeliveryRow {
            event: EventId::from_uuid(r.event_id),
            execution: ExecutionId::from_uuid(r.execution_id),
            seq: in_range("seq", r.seq)?,
            kind: r.kind,
            idempotency_key: r.idempotency_key,
            sink: r.sink,
            status: parsed("status", &r.status)?,
            attempts: in_range("attempts", r.attempts)?,
            last_error: r.last_error,
            next_attempt_at: Timestamp::from_micros(r.next_attempt_at),
            delivered_at: r.delivered_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.created_at),
            pos: r.pos,
        })
    }
}

/// Makes dead deliveries pending again with a fresh set of attempts: one event's (on every
/// sink where it is dead), or every dead one of the tenant. Returns how many.
pub async fn revive(
    db: &mut Conn<'_>,
    tenant: TenantId,
    event: Option<EventId>,
    now: Timestamp,
) -> Result<u64, DbError> {
    let mut q = query("UPDATE outbox_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ");
    q.push_bind(now.micros());
    q.push(" WHERE status = 'dead' AND event_id IN (SELECT id FROM outbox WHERE tenant_id = ")
        .push_bind(tenant.uuid());
    if let Some(e) = event {
        q.push(" AND id = ").push_bind(e.uuid());
    }
    q.push(")");
    q.execute(db).await
}

/// Whether the tenant has an event with this id.
pub async fn event_exists(db: &mut Conn<'_>, tenant: TenantId, event: EventId) -> Result<bool, DbError> {
    let n: i64 = query("SELECT COUNT(*) FROM outbox WHERE tenant_id = ? AND id = ?")
        .bind(tenant.uuid())
        .bind(event.uuid())
        .scalar(db)
        .await?;
    Ok(n > 0)
}

/// The counts of `sink` (all tenants: the relay serves them all).
pub async fn counts(db: &mut Conn<'_>, sink: &str) -> Result<SinkCounts, DbError> {
    let cursor = cursor(db, sink).await?;
    let by_status: Vec<(String, i64)> =
        query("SELECT status, COUNT(*) FROM outbox_deliveries WHERE sink = ? GROUP BY status")
            .bind(sink.to_owned())
            .fetch_all(db)
            .await?;
    let (unseen, oldest_unseen): (i64, Option<i64>) =
        query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE pos > ? OR pos IS NULL")
            .bind(cursor)
            .fetch_one(db)
            .await?;
    let oldest_pending: Option<i64> = query(
        "SELECT MIN(o.created_at) FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id WHERE d.sink = ? AND d.status = 'pending'",
    )
    .bind(sink.to_owned())
    .scalar(db)
    .await?;
    let mut c = SinkCounts {
        sink: sink.to_owned(),
        unseen: u64::try_from(unseen).unwrap_or(0),
        ..SinkCounts::default()
    };
    for (status, n) in by_status {
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            "pending" => c.pending = n,
            "dead" => c.dead = n,
            _ => c.delivered = n,
        }
    }
    c.oldest_pending =
        [oldest_unseen, oldest_pending].into_iter().flatten().min().map(Timestamp::from_micros);
    Ok(c)
}

/// Sinks with delivery state but not in `configured` (rows left by a sink since removed).
pub async fn other_sinks(db: &mut Conn<'_>, configured: &[String]) -> Result<Vec<String>, DbError> {
    let all: Vec<String> = query("SELECT sink FROM outbox_cursors ORDER BY sink").scalars(db).await?;
    Ok(all.into_iter().filter(|s| !configured.contains(s)).collect())
}
