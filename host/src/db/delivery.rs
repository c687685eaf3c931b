//! Outbox delivery state: one row per event and sink (`outbox_deliveries`), created from the
//! outbox in commit order behind a per-sink cursor (`outbox_cursors`), claimed with a lease.
//!
//! FIFO per aggregate lives in [`claim`]: an event is claimable only if every earlier
//! undelivered event of its execution (for that sink) is claimable in the same claim, so one
//! execution's events are never in two relays' hands at once and never overtake each other.

use super::DbError;
use super::batch::Batch;
use super::decode::{get, parse, unsigned};
use crate::model::{EventId, ExecutionId, OutboxEvent, TenantId, Timestamp};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};

/// Where a delivery stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet (possibly waiting for its next attempt).
    Pending,
    /// The sink accepted it.
    Delivered,
    /// Given up on: a permanent error or too many attempts. `wtb outbox retry` revives it.
    Dead,
}
crate::model::text_enum!(DeliveryStatus, "delivery status", { Pending => "pending", Delivered => "delivered", Dead => "dead" });

/// The highest event position (0 for an empty outbox): whether there is anything new.
pub async fn max_pos(db: impl SqliteExecutor<'_>) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(pos), 0) FROM outbox").fetch_one(db).await?)
}

/// How far delivery rows exist for `sink` (0 if never).
pub async fn cursor(db: impl SqliteExecutor<'_>, sink: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COALESCE((SELECT pos FROM outbox_cursors WHERE sink = ?), 0)").bind(sink).fetch_one(db).await?)
}

/// Creates the delivery rows of every event past `sink`'s cursor and moves the cursor; returns
/// how many. Call inside a transaction: the insert is its first statement (taking SQLite's
/// write lock at once), so the cursor lands exactly after the rows it inserted.
pub async fn materialize(conn: &mut SqliteConnection, sink: &str, now: Timestamp) -> Result<u64, DbError> {
    let done = sqlx::query(
        "INSERT OR IGNORE INTO outbox_deliveries (event_id, sink, execution_id, seq, pos, status, attempts, next_attempt_at)
         SELECT id, ?1, execution_id, seq, pos, 'pending', 0, ?2 FROM outbox
         WHERE pos > COALESCE((SELECT pos FROM outbox_cursors WHERE sink = ?1), 0)",
    )
    .bind(sink)
    .bind(now.micros())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO outbox_cursors (sink, pos) VALUES (?1, (SELECT COALESCE(MAX(pos), 0) FROM outbox))
         ON CONFLICT (sink) DO UPDATE SET pos = MAX(pos, excluded.pos)",
    )
    .bind(sink)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// One claimed delivery.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The event.
    pub event: OutboxEvent,
    /// Attempts before this one.
    pub attempts: u32,
}

/// What to claim.
#[derive(Clone, Copy, Debug)]
pub struct ClaimSpec<'a> {
    /// The sink.
    pub sink: &'a str,
    /// Who claims (a relay process).
    pub owner: &'a str,
    /// The time claims are judged at.
    pub now: Timestamp,
    /// Until when the claim holds.
    pub lease_until: Timestamp,
    /// Most events in total.
    pub limit: u32,
    /// Most events of one execution (the oldest undelivered ones, in order).
    pub per_execution: u32,
}

/// Leases the due deliveries of a sink, each execution's from its oldest undelivered event on,
/// stopping before any event that is dead, waiting for a retry or leased by another relay (so
/// it blocks only its own execution). Executions take turns: every execution's first event
/// comes before any second one. One statement, so two relays never claim the same row.
///
/// Delivery is in order, so an execution's undelivered events are a suffix of its seqs: only
/// the `per_execution` rows from each head are looked at, not the whole backlog.
pub async fn claim(conn: &mut SqliteConnection, spec: ClaimSpec<'_>) -> Result<Vec<Claimed>, DbError> {
    let claimed: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "UPDATE outbox_deliveries SET lease_owner = ?1, lease_until = ?2
         WHERE sink = ?3 AND event_id IN (
             WITH heads AS (
                 SELECT execution_id, MIN(seq) AS head FROM outbox_deliveries
                 WHERE sink = ?3 AND status <> 'delivered' GROUP BY execution_id
             )
             SELECT event_id FROM (
                 SELECT d.event_id, d.pos,
                     SUM(CASE WHEN d.status = 'dead' OR d.next_attempt_at > ?4 OR COALESCE(d.lease_until, 0) > ?4 THEN 1 ELSE 0 END)
                         OVER (PARTITION BY d.execution_id ORDER BY d.seq ROWS UNBOUNDED PRECEDING) AS blocked,
                     ROW_NUMBER() OVER (PARTITION BY d.execution_id ORDER BY d.seq) AS turn
                 FROM heads h CROSS JOIN outbox_deliveries d
                     ON d.sink = ?3 AND d.execution_id = h.execution_id AND d.status <> 'delivered'
                     AND d.seq >= h.head AND d.seq < h.head + ?5
             ) WHERE blocked = 0 AND turn <= ?5
             ORDER BY turn, pos LIMIT ?6
         )
         RETURNING event_id, attempts",
    )
    .bind(spec.owner)
    .bind(spec.lease_until.micros())
    .bind(spec.sink)
    .bind(spec.now.micros())
    .bind(i64::from(spec.per_execution))
    .bind(i64::from(spec.limit))
    .fetch_all(&mut *conn)
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let attempts: std::collections::HashMap<uuid::Uuid, i64> = claimed.iter().copied().collect();
    let mut events = Vec::with_capacity(claimed.len());
    for part in claimed.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {} FROM outbox WHERE id IN (", super::outbox::COLUMNS));
        let mut ids = q.separated(", ");
        for (id, _) in part {
            ids.push_bind(*id);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let event = super::outbox::decode(&row)?;
            let attempts = attempts.get(&event.id.uuid()).copied().unwrap_or(0);
            events.push(Claimed { event, attempts: u32::try_from(attempts).unwrap_or(u32::MAX) });
        }
    }
    events.sort_by_key(|c| (c.event.execution, c.event.seq));
    Ok(events)
}

/// How one claimed delivery ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// The sink accepted it.
    Delivered,
    /// It failed; try again at `next_attempt_at`.
    Retry {
        /// The error.
        error: String,
        /// When.
        next_attempt_at: Timestamp,
    },
    /// It failed for good.
    Dead {
        /// The error.
        error: String,
    },
    /// Not attempted (an earlier event of its execution failed): the lease is dropped.
    Released,
}

/// Records outcomes of `owner`'s claims on `sink`, appended to a batch. A row whose lease
/// another relay has since taken over is left alone. Deliveries and releases are one
/// statement per few hundred events; failures (rare) one each.
pub fn settle_into(batch: &mut Batch<'_>, sink: &str, owner: &str, now: Timestamp, settled: &[(EventId, Settled)]) {
    let ids = |want: fn(&Settled) -> bool| settled.iter().filter(|(_, s)| want(s)).map(|(e, _)| *e).collect::<Vec<_>>();
    let grouped = [
        (ids(|s| *s == Settled::Delivered), "status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL"),
        (ids(|s| *s == Settled::Released), "lease_owner = NULL, lease_until = NULL"),
    ];
    for (events, set) in grouped {
        for part in events.chunks(500) {
            let marks = vec!["?"; part.len()].join(", ");
            batch.statement(&format!("UPDATE outbox_deliveries SET {set} WHERE sink = ? AND lease_owner = ? AND event_id IN ({marks})"));
            if set.contains("delivered_at") {
                batch.bind(now.micros());
            }
            batch.bind(sink.to_owned()).bind(owner.to_owned());
            for e in part {
                batch.bind(e.uuid());
            }
        }
    }
    for (event, s) in settled {
        match s {
            Settled::Retry { error, next_attempt_at } => batch
                .statement("UPDATE outbox_deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND sink = ? AND lease_owner = ?")
                .bind(error.clone())
                .bind(next_attempt_at.micros()),
            Settled::Dead { error } => batch
                .statement("UPDATE outbox_deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND sink = ? AND lease_owner = ?")
                .bind(error.clone()),
            Settled::Delivered | Settled::Released => continue,
        }
        .bind(event.uuid())
        .bind(sink.to_owned())
        .bind(owner.to_owned());
    }
}

/// One delivery row with its event's identity, for `wtb outbox list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryRow {
    /// The event.
    pub event: EventId,
    /// Its execution.
    pub execution: ExecutionId,
    /// Its position in the execution.
    pub seq: u32,
    /// Its kind (stored form).
    pub kind: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The sink.
    pub sink: String,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it may be tried next (pending ones).
    pub next_attempt_at: Timestamp,
    /// When the sink accepted it.
    pub delivered_at: Option<Timestamp>,
    /// When the event was written.
    pub created_at: Timestamp,
    /// Its commit position: the cursor for the next page.
    pub pos: i64,
}

/// Which deliveries to list.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this sink.
    pub sink: Option<String>,
    /// Only this execution's.
    pub execution: Option<ExecutionId>,
    /// Only positions after this (oldest first paging).
    pub after_pos: Option<i64>,
}

/// A tenant's deliveries, oldest event first.
pub async fn list(conn: &mut SqliteConnection, tenant: TenantId, filter: &DeliveryFilter, limit: u32) -> Result<Vec<DeliveryRow>, DbError> {
    let mut q = QueryBuilder::<Sqlite>::new(
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
    let rows = q.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRow {
                event: EventId::from_uuid(get(r, "event_id")?),
                execution: ExecutionId::from_uuid(get(r, "execution_id")?),
                seq: unsigned(r, "seq")?,
                kind: get(r, "kind")?,
                idempotency_key: get(r, "idempotency_key")?,
                sink: get(r, "sink")?,
                status: parse(r, "status")?,
                attempts: unsigned(r, "attempts")?,
                last_error: get(r, "last_error")?,
                next_attempt_at: Timestamp::from_micros(get(r, "next_attempt_at")?),
                delivered_at: get::<Option<i64>>(r, "delivered_at")?.map(Timestamp::from_micros),
                created_at: Timestamp::from_micros(get(r, "created_at")?),
                pos: get(r, "pos")?,
            })
        })
        .collect()
}

/// Makes dead deliveries pending again with a fresh set of attempts: one event's (on every
/// sink where it is dead), or every dead one of the tenant. Returns how many.
pub async fn revive(conn: &mut SqliteConnection, tenant: TenantId, event: Option<EventId>, now: Timestamp) -> Result<u64, DbError> {
    let mut q = QueryBuilder::<Sqlite>::new("UPDATE outbox_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ");
    q.push_bind(now.micros());
    q.push(" WHERE status = 'dead' AND event_id IN (SELECT id FROM outbox WHERE tenant_id = ").push_bind(tenant.uuid());
    if let Some(e) = event {
        q.push(" AND id = ").push_bind(e.uuid());
    }
    q.push(")");
    Ok(q.build().execute(&mut *conn).await?.rows_affected())
}

/// Whether the tenant has an event with this id.
pub async fn event_exists(db: impl SqliteExecutor<'_>, tenant: TenantId, event: EventId) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE tenant_id = ? AND id = ?").bind(tenant.uuid()).bind(event.uuid()).fetch_one(db).await? > 0)
}

/// Counts per sink, for `wtb outbox stats`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SinkCounts {
    /// The sink.
    pub sink: String,
    /// Events with no delivery row yet (the relay has not looked at them).
    pub unseen: u64,
    /// Pending deliveries.
    pub pending: u64,
    /// Dead ones.
    pub dead: u64,
    /// Delivered ones.
    pub delivered: u64,
    /// When the oldest event not yet delivered (pending or unseen) was written.
    pub oldest_pending: Option<Timestamp>,
}

/// The counts of `sink` (all tenants: the relay serves them all).
pub async fn counts(conn: &mut SqliteConnection, sink: &str) -> Result<SinkCounts, DbError> {
    let cursor = cursor(&mut *conn, sink).await?;
    let by_status: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM outbox_deliveries WHERE sink = ? GROUP BY status")
        .bind(sink)
        .fetch_all(&mut *conn)
        .await?;
    let (unseen, oldest_unseen): (i64, Option<i64>) = sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE pos > ?")
        .bind(cursor)
        .fetch_one(&mut *conn)
        .await?;
    let oldest_pending: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(o.created_at) FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id WHERE d.sink = ? AND d.status = 'pending'",
    )
    .bind(sink)
    .fetch_one(&mut *conn)
    .await?;
    let mut c = SinkCounts { sink: sink.to_owned(), unseen: u64::try_from(unseen).unwrap_or(0), ..SinkCounts::default() };
    for (status, n) in by_status {
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            "pending" => c.pending = n,
            "dead" => c.dead = n,
            _ => c.delivered = n,
        }
    }
    c.oldest_pending = [oldest_unseen, oldest_pending].into_iter().flatten().min().map(Timestamp::from_micros);
    Ok(c)
}

/// Sinks with delivery state but not in `configured` (rows left by a sink since removed).
pub async fn other_sinks(db: impl SqliteExecutor<'_>, configured: &[String]) -> Result<Vec<String>, DbError> {
    let all: Vec<String> = sqlx::query_scalar("SELECT sink FROM outbox_cursors ORDER BY sink").fetch_all(db).await?;
    Ok(all.into_iter().filter(|s| !configured.contains(s)).collect())
}
