//! Leases of executions: which process drives one, until when, under which fencing token.
//!
//! A claim increments `lease_epoch` and hands the new value to the claimer as its token;
//! every unit the claimer's drive commits sets `lease_epoch` to that token ([`fence_into`]),
//! and the database refuses to lower it (a trigger, both backends). So once another process
//! has taken a lease over, nothing the old holder still has in flight can commit.

use super::batch::Batch;
use super::merge::Phase;
use super::{Conn, DbError, Dialect, Pool, query};
use crate::db::port::{Leases, Taken, WorkSignals};
use wtb_core::model::{ExecutionId, TenantId, Timestamp};

/// The message (SQLite) and SQLSTATE (PostgreSQL) of a unit refused by the fence.
pub const FENCED: &str = "wtb-fenced";
/// The SQLSTATE the PostgreSQL trigger raises.
pub const FENCED_CODE: &str = "WTBFN";
/// The channel `wtb worker`s listen on (PostgreSQL).
pub const WORK_CHANNEL: &str = "wtb_work";

/// Takes the lease if it is free, expired, ours, or held by `stale` (a dead process).
/// Returns the new fencing token if it was taken.
pub async fn claim(
    db: &mut Conn<'_>,
    id: ExecutionId,
    owner: &str,
    until: Timestamp,
    now: Timestamp,
    stale: Option<&str>,
) -> Result<Option<u64>, DbError> {
    let token: Option<i64> = query(
        "UPDATE executions SET lease_owner = ?1, lease_until = ?2, lease_epoch = lease_epoch + 1
         WHERE id = ?3 AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until < ?4 OR lease_owner = ?5)
         RETURNING lease_epoch",
    )
    .bind(owner.to_owned())
    .bind(until.micros())
    .bind(id.uuid())
    .bind(now.micros())
    .bind(stale.map(str::to_owned))
    .fetch_optional::<(i64,)>(db)
    .await?
    .map(|(t,)| t);
    Ok(token.map(|t| t as u64))
}

/// Takes up to `limit` runnable executions (running, and unleased or with an expired lease)
/// for `owner`, oldest first. On PostgreSQL, rows another claimer is taking are
/// skipped (`FOR UPDATE SKIP LOCKED`), so workers never wait on each other.
pub async fn claim_runnable(
    pool: &Pool,
    owner: &str,
    until: Timestamp,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<Taken>, DbError> {
    let mut tx = pool.begin().await?;
    let db = &mut tx.conn();
    let lock = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    let candidates: Vec<(uuid::Uuid, uuid::Uuid, Option<String>)> = query(format!(
        "SELECT id, tenant_id, lease_owner FROM executions
         WHERE status = 'running' AND (lease_owner IS NULL OR lease_until < ?)
         ORDER BY id LIMIT ?{lock}"
    ))
    .bind(now.micros())
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?;
    if candidates.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    // One statement for the batch: each row's new token comes back with its id.
    let mut update = query(
        "UPDATE executions SET lease_owner = ?, lease_until = ?, lease_epoch = lease_epoch + 1 WHERE id IN (",
    )
    .bind(owner.to_owned())
    .bind(until.micros());
    update.push_list(candidates.iter().map(|(id, _, _)| *id)).push(") RETURNING id, lease_epoch");
    let tokens: std::collections::HashMap<uuid::Uuid, i64> =
        update.fetch_all::<(uuid::Uuid, i64)>(db).await?.into_iter().collect();
    let mut taken = Vec::with_capacity(candidates.len());
    for (id, tenant, previous) in candidates {
        let token = *tokens.get(&id).ok_or(DbError::Corrupt { what: "claim", detail: id.to_string() })?;
        taken.push(Taken {
            tenant: TenantId::from_uuid(tenant),
            execution: ExecutionId::from_uuid(id),
            token: token as u64,
            taken_over: previous.is_some(),
        });
    }
    tx.commit().await?;
    Ok(taken)
}

/// The lease holder and expiry, if any.
pub async fn lease(db: &mut Conn<'_>, id: ExecutionId) -> Result<Option<(String, Timestamp)>, DbError> {
    let row: Option<(Option<String>, Option<i64>)> =
        query("SELECT lease_owner, lease_until FROM executions WHERE id = ?")
            .bind(id.uuid())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(o, u)| Some((o?, Timestamp::from_micros(u?)))))
}

/// The processes holding leases of running executions.
pub async fn holders(db: &mut Conn<'_>) -> Result<Vec<String>, DbError> {
    query("SELECT DISTINCT lease_owner FROM executions WHERE status = 'running' AND lease_owner IS NOT NULL")
        .scalars(db)
        .await
}

/// Ends every lease `owner` holds now (a process known dead), so claimers take them at once.
pub async fn expire(db: &mut Conn<'_>, owner: &str) -> Result<u64, DbError> {
    query("UPDATE executions SET lease_until = 0 WHERE lease_owner = ?")
        .bind(owner.to_owned())
        .execute(db)
        .await
}

/// Extends every lease `owner` holds.
pub async fn renew(db: &mut Conn<'_>, owner: &str, until: Timestamp) -> Result<(), DbError> {
    // On PostgreSQL a row a commit writer has locked (its transaction is short) is skipped
    // this round: waiting for it would hold the rows already renewed, and every writer
    // progressing one of them would queue behind. The lease outlasts several rounds.
    let sql = match db.dialect() {
        Dialect::Sqlite => "UPDATE executions SET lease_until = ? WHERE lease_owner = ?",
        Dialect::Postgres => {
            "UPDATE executions SET lease_until = ? WHERE id IN (SELECT id FROM executions WHERE lease_owner = ? FOR UPDATE SKIP LOCKED)"
        }
    };
    query(sql).bind(until.micros()).bind(owner.to_owned()).execute(db).await?;
    Ok(())
}

/// Tells listening workers that there is work, inside a unit: PostgreSQL delivers the
/// notification when the unit commits (and merges repeats within a transaction); SQLite
/// workers poll.
pub fn wake_into(batch: &mut Batch, dialect: Dialect) {
    if dialect == Dialect::Postgres {
        batch.statement_in(Phase::Wakes, "SELECT pg_notify(?, '')::text").bind(WORK_CHANNEL);
    }
}

/// Drops the lease and any pending request (the execution paused or ended, or its driver
/// gave it back).
pub fn release_into(batch: &mut Batch, id: ExecutionId) {
    batch
        .statement_in(
            Phase::Releases,
            "UPDATE executions SET lease_owner = NULL, lease_until = NULL, control = NULL, control_seen_by = NULL WHERE id = ?",
        )
        .bind(id.uuid());
}

/// The fence: fails the unit (and so the whole of it) when the lease was claimed again after
/// `token` was handed out.
pub fn fence_into(batch: &mut Batch, id: ExecutionId, token: u64) {
    batch.statement("UPDATE executions SET lease_epoch = ? WHERE id = ?").bind(token as i64).bind(id.uuid());
}

/// The lease operations over a pool of either backend (beside the SQL they run, rather than
/// in `reads.rs`, which holds the other aggregates').
#[async_trait::async_trait]
impl Leases for super::reads::Reads {
    async fn claim(
        &self,
        id: ExecutionId,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
        stale: Option<&str>,
    ) -> Result<Option<u64>, DbError> {
        claim(&mut self.pool().acquire().await?.conn(), id, owner, until, now, stale).await
    }
    async fn claim_runnable(
        &self,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Taken>, DbError> {
        claim_runnable(self.pool(), owner, until, now, limit).await
    }
    async fn lease(&self, id: ExecutionId) -> Result<Option<(String, Timestamp)>, DbError> {
        lease(&mut self.pool().acquire().await?.conn(), id).await
    }
    async fn holders(&self) -> Result<Vec<String>, DbError> {
        holders(&mut self.pool().acquire().await?.conn()).await
    }
    async fn expire(&self, owner: &str) -> Result<u64, DbError> {
        expire(&mut self.pool().acquire().await?.conn(), owner).await
    }
    async fn renew(&self, owner: &str, until: Timestamp) -> Result<(), DbError> {
        renew(&mut self.pool().acquire().await?.conn(), owner, until).await
    }
    async fn listen(&self) -> Result<Option<Box<dyn WorkSignals>>, DbError> {
        let Pool::Postgres(pool) = self.pool() else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(WORK_CHANNEL).await?;
        Ok(Some(Box::new(Listener(listener))))
    }
}

/// PostgreSQL's `LISTEN` on [`WORK_CHANNEL`]; reconnects (and listens again) after a loss.
struct Listener(sqlx::postgres::PgListener);

#[async_trait::async_trait]
impl WorkSignals for Listener {
    async fn next(&mut self) -> Result<(), DbError> {
        self.0.recv().await?;
        Ok(())
    }
}
