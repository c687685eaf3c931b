//! Outbox delivery state: one row per event and sink (`outbox_deliveries`), created from the
//! outbox in commit order behind a per-sink cursor (`outbox_cursors`), claimed with a lease.
//!
//! FIFO per aggregate lives in [`claim`]: an event is claimable only if every earlier
//! undelivered event of its execution (for that sink) is claimable in the same claim, so one
//! execution's events are never in two relays' hands at once and never overtake each other.

use super::DbError;
use super::batch::Batch;
use super::{Conn, Dialect, Pool, query};
use crate::db::port::{ClaimSpec, Claimed, Settled};
use wtb_core::model::{EventId, OutboxEvent, Timestamp};

mod inspect;

pub use inspect::{counts, event_exists, list, other_sinks, revive};

/// The highest event position (0 for an empty outbox): whether there is anything new.
pub async fn max_pos(db: &mut Conn<'_>) -> Result<i64, DbError> {
    query("SELECT COALESCE(MAX(pos), 0) FROM outbox").scalar(db).await
}

/// The PostgreSQL advisory lock a relay holds while it numbers events ("wtb-sequ" as an
/// integer).
const SEQUENCE_LOCK: i64 = 0x7774_622d_7365_7175;

/// Gives every committed event without a position the next positions, in the order they were
/// created; how many. Only PostgreSQL stores events unnumbered (SQLite numbers them as its one
/// writer inserts them, which is commit order); relays number one at a time, under a lock
/// held to the commit, so positions grow in the order they become visible.
pub async fn sequence(pool: &Pool) -> Result<u64, DbError> {
    if matches!(pool, Pool::Sqlite(_)) {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let db = &mut tx.conn();
    query("SELECT pg_advisory_xact_lock(?)::text").bind(SEQUENCE_LOCK).execute(db).await?;
    let numbered = query(
        "UPDATE outbox SET pos = s.pos FROM (
             SELECT id, nextval('outbox_pos') AS pos FROM (
                 SELECT id FROM outbox WHERE pos IS NULL ORDER BY created_at, execution_id, seq
             ) AS unnumbered
         ) AS s WHERE outbox.id = s.id",
    )
    .execute(db)
    .await?;
    tx.commit().await?;
    Ok(numbered)
}

/// How far delivery rows exist for `sink` (0 if never).
pub async fn cursor(db: &mut Conn<'_>, sink: &str) -> Result<i64, DbError> {
    query("SELECT COALESCE((SELECT pos FROM outbox_cursors WHERE sink = ?), 0)")
        .bind(sink.to_owned())
        .scalar(db)
        .await
}

/// Creates the delivery rows of every event past `sink`'s cursor and moves the cursor, in one
/// transaction; returns how many. The insert is its first statement (taking SQLite's write
/// lock at once), so the cursor lands exactly after the rows it inserted.
pub async fn materialize(pool: &Pool, sink: &str, now: Timestamp) -> Result<u64, DbError> {
    let mut tx = pool.begin().await?;
    let db = &mut tx.conn();
    let added = match db.dialect() {
        // Under SQLite's write lock nothing commits between the two statements.
        Dialect::Sqlite => {
            let added = query(
                "INSERT INTO outbox_deliveries (event_id, sink, execution_id, seq, pos, status, attempts, next_attempt_at)
                 SELECT id, ?1, execution_id, seq, pos, 'pending', 0, ?2 FROM outbox
                 WHERE pos > COALESCE((SELECT pos FROM outbox_cursors WHERE sink = ?1), 0)
                 ON CONFLICT DO NOTHING",
            )
            .bind(sink.to_owned())
            .bind(now.micros())
            .execute(db)
            .await?;
            query(
                "INSERT INTO outbox_cursors (sink, pos) VALUES (?1, (SELECT COALESCE(MAX(pos), 0) FROM outbox))
                 ON CONFLICT (sink) DO UPDATE SET pos = CASE WHEN excluded.pos > outbox_cursors.pos THEN excluded.pos ELSE outbox_cursors.pos END",
            )
            .bind(sink.to_owned())
            .execute(db)
            .await?;
            added
        }
        // One statement, so one snapshot: the cursor moves to the last event this
        // materialisation saw, never past one numbered in between. (Events are numbered in
        // the order they become visible, see [`sequence`], so every event up to it was seen.
        // A data-modifying CTE runs to completion whether or not the query reads it.)
        Dialect::Postgres => {
            let (added,): (i64,) = query(
                "WITH seen AS (
                     SELECT id, execution_id, seq, pos FROM outbox
                     WHERE pos > COALESCE((SELECT pos FROM outbox_cursors WHERE sink = ?1), 0)
                 ), added AS (
                     INSERT INTO outbox_deliveries (event_id, sink, execution_id, seq, pos, status, attempts, next_attempt_at)
                     SELECT id, ?1, execution_id, seq, pos, 'pending', 0, ?2 FROM seen
                     ON CONFLICT DO NOTHING RETURNING 1
                 ), _moved AS (
                     INSERT INTO outbox_cursors (sink, pos) SELECT ?1, COALESCE(MAX(pos), 0) FROM seen
                     ON CONFLICT (sink) DO UPDATE SET pos = GREATEST(outbox_cursors.pos, excluded.pos) RETURNING 1
                 )
                 SELECT COUNT(*) FROM added",
            )
            .bind(sink.to_owned())
            .bind(now.micros())
            .fetch_one(db)
            .await?;
            u64::try_from(added).unwrap_or(0)
        }
    };
    tx.commit().await?;
    Ok(added)
}

/// Leases the due deliveries of a sink, each execution's from its oldest undelivered event on,
/// stopping before any event that is dead, waiting for a retry or leased by another relay (so
/// it blocks only its own execution). Executions take turns: every execution's first event
/// comes before any second one. One statement, so two relays never claim the same row.
///
/// Delivery is in order, so an execution's undelivered events are a suffix of its seqs: only
/// the `per_execution` rows from each head are looked at, not the whole backlog.
pub async fn claim(pool: &Pool, spec: ClaimSpec<'_>) -> Result<Vec<Claimed>, DbError> {
    let mut tx = pool.begin().await?;
    let db = &mut tx.conn();
    // SQLite: CROSS JOIN fixes the join order (heads first); PostgreSQL has no CROSS JOIN with
    // ON and plans the order itself. SQLite's write lock already makes claims one at a time;
    // on PostgreSQL, relays of other processes claim of the same sink one at a time under an
    // advisory lock held to the commit. Row locks (`SKIP LOCKED`) would not do: a relay
    // skipping an execution's locked head could take its next event, and FIFO per execution
    // would break.
    let join = match db.dialect() {
        Dialect::Sqlite => "CROSS JOIN",
        Dialect::Postgres => {
            query("SELECT pg_advisory_xact_lock(hashtext(?))::text")
                .bind(format!("wtb-claim:{}", spec.sink))
                .execute(db)
                .await?;
            "JOIN"
        }
    };
    let claimed: Vec<(uuid::Uuid, i64)> = query(format!(
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
                 FROM heads h {join} outbox_deliveries d
                     ON d.sink = ?3 AND d.execution_id = h.execution_id AND d.status <> 'delivered'
                     AND d.seq >= h.head AND d.seq < h.head + ?5
             ) AS runs WHERE blocked = 0 AND turn <= ?5
             ORDER BY turn, pos LIMIT ?6
         )
         RETURNING event_id, attempts",
    ))
    .bind(spec.owner.to_owned())
    .bind(spec.lease_until.micros())
    .bind(spec.sink.to_owned())
    .bind(spec.now.micros())
    .bind(i64::from(spec.per_execution))
    .bind(i64::from(spec.limit))
    .fetch_all(db)
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let attempts: std::collections::HashMap<uuid::Uuid, i64> = claimed.iter().copied().collect();
    let mut events = Vec::with_capacity(claimed.len());
    for part in claimed.chunks(500) {
        let mut q = query(format!("SELECT {} FROM outbox WHERE id IN (", super::outbox::COLUMNS));
        q.push_list(part.iter().map(|(id, _)| *id)).push(")");
        for row in q.fetch_all::<super::outbox::Row>(db).await? {
            let event = OutboxEvent::try_from(row)?;
            let attempts = attempts.get(&event.id.uuid()).copied().unwrap_or(0);
            events.push(Claimed { event, attempts: u32::try_from(attempts).unwrap_or(u32::MAX) });
        }
    }
    tx.commit().await?;
    events.sort_by_key(|c| (c.event.execution, c.event.seq));
    Ok(events)
}

/// Records outcomes of `owner`'s claims on `sink`, appended to a batch. A row whose lease
/// another relay has since taken over is left alone. Deliveries and releases are one
/// statement per few hundred events; failures (rare) one each.
pub fn settle_into(
    batch: &mut Batch,
    sink: &str,
    owner: &str,
    now: Timestamp,
    settled: &[(EventId, Settled)],
) {
    let ids = |want: fn(&Settled) -> bool| {
        settled.iter().filter(|(_, s)| want(s)).map(|(e, _)| *e).collect::<Vec<_>>()
    };
    let grouped = [
        (
            ids(|s| *s == Settled::Delivered),
            "status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL",
        ),
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
