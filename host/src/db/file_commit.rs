//! File commits and their changes.

use super::DbError;
use super::batch::Batch;
use super::decode::{get, int, json, parse, parse_opt, unsigned_opt};
use crate::model::{ChangeKind, EntryKind, FileChange, FileCommit, FileCommitId, FileEntry, TenantId, Timestamp};
use sqlx::SqliteConnection;

/// Inserts a commit and its change rows.
pub async fn insert(conn: &mut SqliteConnection, c: &FileCommit) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_into(&mut batch, c)?;
    batch.execute(conn).await
}

/// [`insert`], appended to a batch (one statement for the commit, one for all its changes).
pub fn insert_into(batch: &mut Batch<'_>, c: &FileCommit) -> Result<(), DbError> {
    let tree = serde_json::to_string(&c.tree).map_err(|e| DbError::Corrupt { what: "tree", detail: e.to_string() })?;
    batch
        .statement("INSERT INTO file_commits (id, tenant_id, parent_id, tree, file_count, total_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(c.id.uuid())
        .bind(c.tenant.uuid())
        .bind(c.parent.map(|p| p.uuid()))
        .bind(tree)
        .bind(int(c.tree.values().filter(|e| e.kind == EntryKind::File).count()))
        .bind(int(c.total_bytes()))
        .bind(c.created_at.micros());
    if c.changes.is_empty() {
        return Ok(());
    }
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; c.changes.len()].join(", ");
    batch.statement(&format!("INSERT INTO file_changes (commit_id, path, change, kind, digest, size, mode) VALUES {rows}"));
    for ch in &c.changes {
        let e = ch.entry.as_ref();
        batch
            .bind(c.id.uuid())
            .bind(ch.path.clone())
            .bind(ch.change.as_str())
            .bind(e.map(|e| e.kind.as_str()))
            .bind(e.and_then(|e| e.digest).map(|d| d.to_hex()))
            .bind(e.map(|e| int(e.size)))
            .bind(e.map(|e| i64::from(e.mode)));
    }
    Ok(())
}

/// The commit with `id`, with its tree and changes.
pub async fn get_one(conn: &mut SqliteConnection, tenant: TenantId, id: FileCommitId) -> Result<Option<FileCommit>, DbError> {
    let Some(r) = sqlx::query("SELECT id, tenant_id, parent_id, tree, created_at FROM file_commits WHERE tenant_id = ? AND id = ?")
        .bind(tenant.uuid())
        .bind(id.uuid())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query("SELECT path, change, kind, digest, size, mode FROM file_changes WHERE commit_id = ? ORDER BY path")
        .bind(id.uuid())
        .fetch_all(&mut *conn)
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: Option<EntryKind> = parse_opt(row, "kind")?;
        let entry = match kind {
            Some(kind) => Some(FileEntry {
                kind,
                digest: parse_opt(row, "digest")?,
                size: unsigned_opt(row, "size")?.unwrap_or(0),
                mode: unsigned_opt(row, "mode")?.unwrap_or(0),
            }),
            None => None,
        };
        changes.push(FileChange { path: get(row, "path")?, change: parse::<ChangeKind>(row, "change")?, entry });
    }
    Ok(Some(FileCommit {
        id: FileCommitId::from_uuid(get(&r, "id")?),
        tenant: TenantId::from_uuid(get(&r, "tenant_id")?),
        parent: get::<Option<uuid::Uuid>>(&r, "parent_id")?.map(FileCommitId::from_uuid),
        tree: json(&r, "tree")?,
        changes,
        created_at: Timestamp::from_micros(get(&r, "created_at")?),
    }))
}
