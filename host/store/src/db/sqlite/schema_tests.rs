//! Tests of the migrated SQLite schema as the writer meets it.

use crate::db::Durability;

/// How many temporary b-trees SQLite's plan for `sql` opens (`OpenEphemeral`).
fn ephemeral_tables(db: &rusqlite::Connection, sql: &str) -> usize {
    let mut plan = db.prepare(&format!("EXPLAIN {sql}")).unwrap();
    // Unbound parameters read as NULL: the plan is all this needs.
    let mut rows = plan.raw_query();
    let mut count = 0;
    while let Some(row) = rows.next().unwrap() {
        count += usize::from(row.get::<_, String>(1).unwrap() == "OpenEphemeral");
    }
    count
}

/// The first column of every row `sql` returns, as text.
fn first_column(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut query = db.prepare(sql).unwrap();
    query.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
}

/// A CHECK written as `col IN ('a', 'b', 'c')` makes SQLite build a temporary b-tree of the
/// list for every row it writes (measured: ~5 µs a row, about a sixth of the commit writer's
/// time on short nodes, before the checks were respelled). No table may have one on a row's
/// insert or on an update by primary key.
#[tokio::test]
async fn no_row_write_builds_a_temporary_table_to_check_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let _pool = super::open(&path, Durability::Full).await.unwrap();
    let db = super::connect::open_direct(&path, Durability::Full).unwrap();
    let tables = first_column(
        &db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    );
    assert!(tables.len() > 10, "{tables:?}");
    let mut building = Vec::new();
    for table in &tables {
        let mut info = db.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let columns: Vec<(String, bool)> = info
            .query_map([], |row| Ok((row.get::<_, String>(1)?, row.get::<_, i64>(5)? > 0)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        let marks = vec!["?"; names.len()].join(", ");
        let insert = format!("INSERT INTO {table} ({}) VALUES ({marks})", names.join(", "));
        let (keys, rest): (Vec<_>, Vec<_>) = columns.iter().partition(|(_, key)| *key);
        let set: Vec<String> = rest.iter().map(|(c, _)| format!("{c} = ?")).collect();
        let mut by_key: Vec<String> = keys.iter().map(|(c, _)| format!("{c} = ?")).collect();
        if by_key.is_empty() {
            by_key.push("rowid = ?".into());
        }
        let update = format!("UPDATE {table} SET {} WHERE {}", set.join(", "), by_key.join(" AND "));
        if ephemeral_tables(&db, &insert) + ephemeral_tables(&db, &update) > 0 {
            building.push(table.as_str());
        }
    }
    assert!(building.is_empty(), "{building:?}");
}

/// The rows of the tables migrations 12 and 14 rebuild, and the outbox's counter, as text.
fn rebuilt_rows(db: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for table in
        ["executions", "node_boundaries", "file_changes", "outbox", "outbox_deliveries", "sqlite_sequence"]
    {
        let mut rows = db.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2")).unwrap();
        let width = rows.column_count();
        let mut rows = rows.raw_query();
        while let Some(row) = rows.next().unwrap() {
            let cells: Vec<String> = (0..width).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect();
            out.push(format!("{table}: {}", cells.join(" | ")));
        }
    }
    out
}

/// The schema of `table`'s indexes and triggers, as SQLite stores it.
fn attached(db: &rusqlite::Connection, table: &str) -> Vec<String> {
    first_column(
        db,
        &format!(
            "SELECT sql FROM sqlite_master WHERE tbl_name = '{table}' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name"
        ),
    )
}

/// A database at `path` migrated up to (not including) the migration named `description`.
async fn migrated_before(path: &std::path::Path, description: &str) {
    let all = &super::connect::MIGRATOR;
    let first = all.iter().find(|m| m.description == description).expect("a known migration");
    let before = sqlx::migrate::Migrator {
        migrations: all.iter().filter(|m| m.version < first.version).cloned().collect::<Vec<_>>().into(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true).foreign_keys(true);
    let old = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before.run(&old).await.unwrap();
    old.close().await;
}

/// A database written before the checks were respelled (migration 12) and before `executions`
/// and `outbox` were rebuilt (14) keeps every row of the rebuilt tables, their indexes,
/// triggers and references, and the outbox's counter; and still refuses a value outside a list.
#[tokio::test]
async fn rebuilding_tables_keeps_every_row_of_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    migrated_before(&path, "check lists").await;
    let seed = rusqlite::Connection::open(&path).unwrap();
    seed.execute_batch(
        "PRAGMA foreign_keys = ON;
         INSERT INTO tenants (id, name, created_at) VALUES (X'01', 't', 0);
         INSERT INTO workflows (id, tenant_id, name, digest, definition, created_at) VALUES (X'02', X'01', 'w', 'd', '{}', 0);
         INSERT INTO executions (id, tenant_id, workflow_id, status, created_at, updated_at, control, lease_owner, lease_until, lease_epoch) VALUES (X'03', X'01', X'02', 'running', 0, 0, 'pause', 'me', 9, 3);
         INSERT INTO file_commits (id, tenant_id, depth, file_count, total_bytes, created_at) VALUES (X'04', X'01', 0, 2, 9, 0);
         INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at) VALUES (X'05', X'03', 1, 'a', 'entry', 1, '{}', X'04', 0), (X'06', X'03', 2, 'a', 'exit', 1, '{}', X'04', 1);
         INSERT INTO executions (id, tenant_id, workflow_id, status, parent_checkpoint_id, parent_execution_id, variant, environment, created_at, updated_at) VALUES (X'0a', X'01', X'02', 'completed', X'06', X'03', 'v', '{}', 2, 3);
         INSERT INTO node_boundaries (id, execution_id, node_id, attempt, entry_checkpoint_id, exit_checkpoint_id, status, started_at, finished_at, stdout, superseded_at, disk_bytes, files_created) VALUES (X'07', X'03', 'a', 1, X'05', X'06', 'succeeded', 0, 5, 'out', 6, 9, 2), (X'08', X'03', 'a', 2, X'06', NULL, 'running', 7, NULL, '', NULL, NULL, NULL);
         INSERT INTO file_changes (commit_id, path, change, kind, digest, size, mode) VALUES (X'04', 'a.txt', 'added', 'file', 'ab', 4, 420), (X'04', 'gone', 'deleted', NULL, NULL, NULL, NULL);
         INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at) VALUES (X'09', X'01', X'03', 1, 'node.completed', '{}', 'k', 0);
         INSERT INTO outbox_deliveries (event_id, sink, execution_id, seq, pos, status, attempts, last_error, next_attempt_at, lease_owner, lease_until) VALUES (X'09', 's', X'03', 1, 1, 'pending', 2, 'down', 10, 'me', 20);
         UPDATE sqlite_sequence SET seq = 41 WHERE name = 'outbox';",
    )
    .unwrap();
    let seeded = rebuilt_rows(&seed);
    assert_eq!(seeded.len(), 9);
    let executions_attached = attached(&seed, "executions");
    assert_eq!(executions_attached.len(), 10, "{executions_attached:?}");
    drop(seed);
    let _pool = super::open(&path, Durability::Full).await.unwrap();
    let db = super::connect::open_direct(&path, Durability::Full).unwrap();
    assert_eq!(rebuilt_rows(&db), seeded);
    assert_eq!(attached(&db, "executions"), executions_attached);
    let check = first_column(&db, "PRAGMA foreign_key_check");
    assert!(check.is_empty(), "{check:?}");
    let open: i64 = db
        .query_row("SELECT count(*) FROM node_boundaries INDEXED BY node_boundaries_open WHERE execution_id = X'03' AND status = 'running'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(open, 1);
    let refusals = [
        ("UPDATE node_boundaries SET status = 'lost' WHERE id = X'08'", "CHECK constraint failed"),
        ("UPDATE file_changes SET kind = 'fifo' WHERE path = 'a.txt'", "CHECK constraint failed"),
        ("UPDATE executions SET status = 'lost' WHERE id = X'03'", "CHECK constraint failed"),
        ("UPDATE executions SET control = 'stop' WHERE id = X'03'", "CHECK constraint failed"),
        ("UPDATE executions SET lease_epoch = 2 WHERE id = X'03'", "wtb-fenced"),
        (
            "INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at) VALUES (X'0b', X'01', X'03', 1, 'x', '{}', 'k2', 0)",
            "UNIQUE constraint failed",
        ),
        ("DELETE FROM outbox WHERE id = X'09'", "FOREIGN KEY constraint failed"),
        ("DELETE FROM executions WHERE id = X'03'", "FOREIGN KEY constraint failed"),
    ];
    for (sql, why) in refusals {
        let refused = db.execute(sql, []).map_err(|e| e.to_string());
        assert!(refused.as_ref().is_err_and(|e| e.contains(why)), "{sql}: {refused:?}");
    }
    db.execute("INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at) VALUES (X'0c', X'01', X'03', 2, 'x', '{}', 'k3', 0)", []).unwrap();
    let pos: i64 = db.query_row("SELECT pos FROM outbox WHERE id = X'0c'", [], |r| r.get(0)).unwrap();
    assert_eq!(pos, 42, "the outbox's counter carried over");
}

/// Migrations run with foreign keys off (a rebuilt table is dropped under its references), so
/// the references are checked once they ran: a broken one fails the open, naming the table.
#[tokio::test]
async fn a_reference_broken_when_migrating_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    migrated_before(&path, "exit rebuilds").await;
    let seed = rusqlite::Connection::open(&path).unwrap();
    seed.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO tenants (id, name, created_at) VALUES (X'01', 't', 0);
         INSERT INTO file_commits (id, tenant_id, depth, file_count, total_bytes, created_at) VALUES (X'04', X'01', 0, 0, 0, 0);
         INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at) VALUES (X'05', X'03', 1, 'a', 'entry', 1, '{}', X'04', 0);",
    )
    .unwrap();
    drop(seed);
    let err = super::open(&path, Durability::Full).await.unwrap_err().to_string();
    assert!(err.contains("`checkpoints` references a missing row of `executions`"), "{err}");
}
