//! File commits and their changes.

use super::DbError;
use super::batch::{Batch, ROWS_PER_STATEMENT};
use super::decode::{from_json, in_range, in_range_opt, int, parsed, parsed_opt};
use super::merge::Phase;
use super::{Conn, query};
use std::collections::HashMap;
use std::sync::Arc;
use wtb_core::model::apply_changes;
use wtb_core::model::{
    ChangeKind, EntryKind, FileChange, FileCommit, FileCommitId, FileEntry, FileTree, TenantId, Timestamp,
};
use wtb_core::model::{SNAPSHOT_INTERVAL_MAX, check_tree};

/// Inserts a commit and its change rows.
pub async fn insert(db: &mut Conn<'_>, c: &FileCommit) -> Result<(), DbError> {
    let mut batch = Batch::new();
    insert_into(&mut batch, c)?;
    batch.execute(db).await
}

/// [`insert`], appended to a batch (one statement for the commit, one for all its changes).
/// Only snapshot commits store their tree; the others are rebuilt by [`get_one`].
pub fn insert_into(batch: &mut Batch, c: &FileCommit) -> Result<(), DbError> {
    let tree = match c.is_snapshot() {
        true => Some(
            serde_json::to_string(c.tree.as_ref())
                .map_err(|e| DbError::Corrupt { what: "tree", detail: e.to_string() })?,
        ),
        false => None,
    };
    batch
        .rows(
            Phase::FileCommits,
            "INSERT INTO file_commits (id, tenant_id, parent_id, depth, tree, file_count, total_bytes, created_at)",
            "(?, ?, ?, ?, ?, ?, ?, ?)",
            1,
            "",
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
        batch.rows(
            Phase::FileChanges,
            "INSERT INTO file_changes (commit_id, path, change, kind, digest, size, mode)",
            "(?, ?, ?, ?, ?, ?, ?)",
            part.len(),
            "",
        );
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
/// nearest snapshot ancestor (fewer than [`SNAPSHOT_INTERVAL_MAX`] steps up).
pub async fn get_one(
    db: &mut Conn<'_>,
    tenant: TenantId,
    id: FileCommitId,
) -> Result<Option<FileCommit>, DbError> {
    Ok(get_many(db, &[(tenant, id)]).await?.pop())
}

/// [`get_one`] for several commits, each named with its tenant: two statements for the
/// commits, and for those that are deltas, one that walks their chains up to the snapshots
/// plus two that load them. Unknown ones are left out.
pub async fn get_many(
    db: &mut Conn<'_>,
    which: &[(TenantId, FileCommitId)],
) -> Result<Vec<FileCommit>, DbError> {
    let mut out = Vec::with_capacity(which.len());
    for part in which.chunks(super::many::PAIRS_PER_READ) {
        let loaded = load_many(db, part).await?;
        let deltas: Vec<(TenantId, FileCommitId)> =
            loaded.iter().filter(|l| l.tree.is_none()).map(|l| (l.commit.tenant, l.commit.id)).collect();
        let mut above = HashMap::new();
        for up in ancestors(db, &deltas).await?.chunks(super::many::PAIRS_PER_READ) {
            above.extend(load_many(db, up).await?.into_iter().map(|l| (l.commit.id, l)));
        }
        for l in loaded {
            out.push(complete(l, &above)?);
        }
    }
    Ok(out)
}

/// The ancestors of the delta commits `which` up to (and with) their snapshots, each with the
/// tenant of the commit it was reached from: one recursive statement per tenant.
async fn ancestors(
    db: &mut Conn<'_>,
    which: &[(TenantId, FileCommitId)],
) -> Result<Vec<(TenantId, FileCommitId)>, DbError> {
    let mut tenants: Vec<TenantId> = which.iter().map(|(t, _)| *t).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut out = Vec::new();
    for tenant in tenants {
        let ids: Vec<uuid::Uuid> =
            which.iter().filter(|(t, _)| *t == tenant).map(|(_, c)| c.uuid()).collect();
        let sql = format!(
            "WITH RECURSIVE up (id) AS (
                 SELECT parent_id FROM file_commits
                  WHERE id IN ({}) AND tenant_id = ? AND tree IS NULL AND parent_id IS NOT NULL
               UNION
                 SELECT f.parent_id FROM file_commits f JOIN up ON f.id = up.id
                  WHERE f.tenant_id = ? AND f.tree IS NULL AND f.parent_id IS NOT NULL
             )
             SELECT id FROM up",
            vec!["?"; ids.len()].join(", ")
        );
        let q = ids.iter().fold(query(sql), |q, id| q.bind(*id));
        let found: Vec<uuid::Uuid> = q.bind(tenant.uuid()).bind(tenant.uuid()).scalars(db).await?;
        out.extend(found.into_iter().map(|id| (tenant, FileCommitId::from_uuid(id))));
    }
    Ok(out)
}

/// A loaded commit with its tree: its own if a snapshot, otherwise rebuilt from the nearest
/// snapshot among the ancestors `above` by replaying the deltas oldest first.
fn complete(
    Loaded { commit, tree }: Loaded,
    above: &HashMap<FileCommitId, Loaded>,
) -> Result<FileCommit, DbError> {
    let id = commit.id;
    let tree = match tree {
        Some(tree) => tree,
        None => {
            let mut deltas = vec![&commit.changes];
            let mut parent = commit.parent;
            let mut tree = loop {
                if deltas.len() > SNAPSHOT_INTERVAL_MAX as usize {
                    return Err(corrupt(format!(
                        "no snapshot within {SNAPSHOT_INTERVAL_MAX} ancestors of {id}"
                    )));
                }
                let up =
                    parent.ok_or_else(|| corrupt(format!("delta commit {id} has no snapshot ancestor")))?;
                let up = above.get(&up).ok_or_else(|| corrupt(format!("missing parent commit {up}")))?;
                match &up.tree {
                    Some(tree) => break tree.clone(),
                    None => {
                        parent = up.commit.parent;
                        deltas.push(&up.commit.changes);
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
    Ok(FileCommit { tree: Arc::new(tree), ..commit })
}

/// One stored row: the commit (tree left empty) and its stored tree, if a snapshot.
struct Loaded {
    commit: FileCommit,
    tree: Option<FileTree>,
}

fn corrupt(detail: String) -> DbError {
    DbError::Corrupt { what: "file_commits", detail }
}

/// The stored rows of the commits of `which` with their changes, in two statements.
async fn load_many(db: &mut Conn<'_>, which: &[(TenantId, FileCommitId)]) -> Result<Vec<Loaded>, DbError> {
    let bound = |q| super::many::bind_pairs(q, which.iter().map(|(t, c)| (t.uuid(), c.uuid())));
    let named = super::many::pairs("f", which.len());
    let sql = format!(
        "SELECT f.id, f.tenant_id, f.parent_id, f.depth, f.tree, f.created_at FROM file_commits f WHERE {named}"
    );
    let rows = bound(query(sql)).fetch_all::<CommitRow>(db).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT x.commit_id, x.path, x.change, x.kind, x.digest, x.size, x.mode FROM file_changes x
           JOIN file_commits f ON f.id = x.commit_id
         WHERE {named} ORDER BY x.commit_id, x.path"
    );
    let mut changes: HashMap<uuid::Uuid, Vec<FileChange>> = HashMap::new();
    for row in bound(query(sql)).fetch_all::<ChangeRow>(db).await? {
        changes.entry(row.commit_id).or_default().push(FileChange::try_from(row)?);
    }
    rows.into_iter()
        .map(|r| {
            Ok(Loaded {
                tree: r.tree.map(|t| from_json("tree", &t)).transpose()?,
                commit: FileCommit {
                    id: FileCommitId::from_uuid(r.id),
                    tenant: TenantId::from_uuid(r.tenant_id),
                    parent: r.parent_id.map(FileCommitId::from_uuid),
                    tree: Arc::default(),
                    changes: changes.remove(&r.id).unwrap_or_default(),
                    depth: in_range("depth", r.depth)?,
                    created_at: Timestamp::from_micros(r.created_at),
                },
            })
        })
        .collect()
}

/// A `file_commits` row as stored (`tree` only on snapshot commits).
#[derive(sqlx_macros::FromRow)]
struct CommitRow {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    parent_id: Option<uuid::Uuid>,
    depth: i64,
    tree: Option<String>,
    created_at: i64,
}

/// A `file_changes` row as stored (entry columns null for a deletion).
#[derive(sqlx_macros::FromRow)]
struct ChangeRow {
    commit_id: uuid::Uuid,
    path: String,
    change: String,
    kind: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    mode: Option<i64>,
}

impl TryFrom<ChangeRow> for FileChange {
    type Error = DbError;

    fn try_from(r: ChangeRow) -> Result<Self, DbError> {
        let entry = match parsed_opt::<EntryKind>("kind", r.kind.as_deref())? {
            Some(kind) => Some(FileEntry {
                kind,
                digest: parsed_opt("digest", r.digest.as_deref())?,
                size: in_range_opt("size", r.size)?.unwrap_or(0),
                mode: in_range_opt("mode", r.mode)?.unwrap_or(0),
            }),
            None => None,
        };
        Ok(FileChange { path: r.path, change: parsed::<ChangeKind>("change", &r.change)?, entry })
    }
}

/// How many paths commit `id` changed from its parent.
pub async fn change_count(db: &mut Conn<'_>, tenant: TenantId, id: FileCommitId) -> Result<usize, DbError> {
    let sql = "SELECT COUNT(*) FROM file_changes WHERE commit_id = ?
               AND EXISTS (SELECT 1 FROM file_commits f WHERE f.id = file_changes.commit_id AND f.tenant_id = ?)";
    let (n,): (i64,) = query(sql).bind(id.uuid()).bind(tenant.uuid()).fetch_one(db).await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Every commit id of a tenant.
pub async fn list_ids(db: &mut Conn<'_>, tenant: TenantId) -> Result<Vec<FileCommitId>, DbError> {
    let ids: Vec<uuid::Uuid> = query("SELECT id FROM file_commits WHERE tenant_id = ? ORDER BY id")
        .bind(tenant.uuid())
        .scalars(db)
        .await?;
    Ok(ids.into_iter().map(FileCommitId::from_uuid).collect())
}
