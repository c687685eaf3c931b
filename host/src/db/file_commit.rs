//! File commits and their changes.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{get, int, parse, parse_opt, unsigned, unsigned_opt};
use crate::capture::apply_changes;
use crate::model::{ChangeKind, EntryKind, FileChange, FileCommit, FileCommitId, FileEntry, FileTree, TenantId, Timestamp};
use crate::model::{SNAPSHOT_INTERVAL, check_tree};
use sqlx::SqliteConnection;
use std::sync::Arc;

/// Inserts a commit and its change rows.
pub async fn insert(conn: &mut SqliteConnection, c: &FileCommit) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_into(&mut batch, c)?;
    batch.execute(conn).await
}

/// [`insert`], appended to a batch (one statement for the commit, one for all its changes).
/// Only snapshot commits store their tree; the others are rebuilt by [`get_one`].
pub fn insert_into(batch: &mut Batch<'_>, c: &FileCommit) -> Result<(), DbError> {
    let tree = match c.is_snapshot() {
        true => Some(serde_json::to_string(c.tree.as_ref()).map_err(|e| DbError::Corrupt { what: "tree", detail: e.to_string() })?),
        false => None,
    };
    batch
        .statement(
            "INSERT INTO file_commits (id, tenant_id, parent_id, depth, tree, file_count, total_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.uuid())
        .bind(c.tenant.uuid())
        .bind(c.parent.map(|p| p.uuid()))
        .bind(i64::from(c.depth))
        .bind(tree)
        .bind(int(c.tree.values().filter(|e| e.kind == EntryKind::File).count()))
        .bind(int(c.total_bytes()))
        .bind(c.created_at.micros());
    if c.changes.is_empty() {
        return Ok(());
    }
    for part in c.changes.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; part.len()].join(", ");
        batch.statement(&format!("INSERT INTO file_changes (commit_id, path, change, kind, digest, size, mode) VALUES {rows}"));
        for ch in part {
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
    }
    Ok(())
}

/// The commit with `id`, with its tree and changes. A delta commit's tree is rebuilt from its
/// nearest snapshot ancestor (at most [`SNAPSHOT_INTERVAL`]` - 1` steps up).
pub async fn get_one(conn: &mut SqliteConnection, tenant: TenantId, id: FileCommitId) -> Result<Option<FileCommit>, DbError> {
    let Some(Loaded { commit, tree }) = load(conn, tenant, id).await? else {
        return Ok(None);
    };
    let tree = match tree {
        Some(tree) => tree,
        None => {
            // Walk up to the nearest snapshot, then replay the deltas oldest first.
            let mut deltas = vec![commit.changes.clone()];
            let mut parent = commit.parent;
            let mut tree = loop {
                if deltas.len() > SNAPSHOT_INTERVAL as usize {
                    return Err(corrupt(format!("no snapshot within {SNAPSHOT_INTERVAL} ancestors of {id}")));
                }
                let up = parent.ok_or_else(|| corrupt(format!("delta commit {id} has no snapshot ancestor")))?;
                let up = load(conn, tenant, up).await?.ok_or_else(|| corrupt(format!("missing parent commit {up}")))?;
                match up.tree {
                    Some(tree) => break tree,
                    None => {
                        parent = up.commit.parent;
                        deltas.push(up.commit.changes);
                    }
                }
            };
            for changes in deltas.iter().rev() {
                apply_changes(&mut tree, changes);
            }
            tree
        }
    };
    // A stored tree with an entry under a non-directory would make a restore write through a
    // link: it is corrupt, whatever wrote it.
    check_tree(&tree).map_err(|e| corrupt(format!("file commit {id}: {e}")))?;
    Ok(Some(FileCommit { tree: Arc::new(tree), ..commit }))
}

/// One stored row: the commit (tree left empty) and its stored tree, if a snapshot.
struct Loaded {
    commit: FileCommit,
    tree: Option<FileTree>,
}

fn corrupt(detail: String) -> DbError {
    DbError::Corrupt { what: "file_commits", detail }
}

async fn load(conn: &mut SqliteConnection, tenant: TenantId, id: FileCommitId) -> Result<Option<Loaded>, DbError> {
    let Some(r) = sqlx::query("SELECT id, tenant_id, parent_id, depth, tree, created_at FROM file_commits WHERE tenant_id = ? AND id = ?")
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
    let tree: Option<String> = get(&r, "tree")?;
    let tree = tree
        .map(|t| serde_json::from_str(&t).map_err(|e| DbError::Corrupt { what: "tree", detail: e.to_string() }))
        .transpose()?;
    Ok(Some(Loaded {
        commit: FileCommit {
            id: FileCommitId::from_uuid(get(&r, "id")?),
            tenant: TenantId::from_uuid(get(&r, "tenant_id")?),
            parent: get::<Option<uuid::Uuid>>(&r, "parent_id")?.map(FileCommitId::from_uuid),
            tree: Arc::default(),
            changes,
            depth: unsigned(&r, "depth")?,
            created_at: Timestamp::from_micros(get(&r, "created_at")?),
        },
        tree,
    }))
}

/// How many paths commit `id` changed from its parent.
pub async fn change_count(conn: &mut SqliteConnection, id: FileCommitId) -> Result<usize, DbError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM file_changes WHERE commit_id = ?").bind(id.uuid()).fetch_one(conn).await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Every commit id of a tenant.
pub async fn list_ids(conn: &mut SqliteConnection, tenant: TenantId) -> Result<Vec<FileCommitId>, DbError> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM file_commits WHERE tenant_id = ? ORDER BY id").bind(tenant.uuid()).fetch_all(conn).await?;
    Ok(ids.into_iter().map(FileCommitId::from_uuid).collect())
}
