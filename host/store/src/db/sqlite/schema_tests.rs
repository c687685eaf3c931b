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
/// insert or on an update by primary key, except `executions`, written twice per execution, not
/// per node: six tables reference it, and sqlx runs each SQLite migration in a transaction,
/// where foreign keys cannot be paused for a rebuild (and a rename with `legacy_alter_table`
/// rewrites the references while they are on).
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
    assert_eq!(building, ["executions"]);
}

/// The rows of the three tables `20261207000012_check_lists` rebuilds, as text.
fn rebuilt_rows(db: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["node_boundaries", "file_changes", "outbox_deliveries"] {
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

/// A database written before the checks were respelled keeps every row of the rebuilt tables,
/// with their indexes, and still refuses a value outside a list.
#[tokio::test]
async fn respelling_the_checks_keeps_every_row_of_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wtb.db");
    let all = &super::connect::MIGRATOR;
    let respelling = all.iter().find(|m| m.description == "check lists").expect("migration 12");
    let before = sqlx::migrate::Migrator {
        migrations: all.iter().filter(|m| m.version < respelling.version).cloned().collect::<Vec<_>>().into(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
    let old = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before.run(&old).await.unwrap();
    old.close().await;
    let seed = rusqlite::Connection::open(&path).unwrap();
    seed.execute_batch(
        "PRAGMA foreign_keys = ON;
         INSERT INTO tenants (id, name, created_at) VALUES (X'01', 't', 0);
         INSERT INTO workflows (id, tenant_id, name, digest, definition, created_at) VALUES (X'02', X'01', 'w', 'd', '{}', 0);
         INSERT INTO executions (id, tenant_id, workflow_id, status, created_at, updated_at) VALUES (X'03', X'01', X'02', 'running', 0, 0);
         INSERT INTO file_commits (id, tenant_id, depth, file_count, total_bytes, created_at) VALUES (X'04', X'01', 0, 2, 9, 0);
         INSERT INTO checkpoints (id, execution_id, seq, node_id, kind, attempt, state, file_commit_id, created_at) VALUES (X'05', X'03', 1, 'a', 'entry', 1, '{}', X'04', 0), (X'06', X'03', 2, 'a', 'exit', 1, '{}', X'04', 1);
         INSERT INTO node_boundaries (id, execution_id, node_id, attempt, entry_checkpoint_id, exit_checkpoint_id, status, started_at, finished_at, stdout, superseded_at, disk_bytes, files_created) VALUES (X'07', X'03', 'a', 1, X'05', X'06', 'succeeded', 0, 5, 'out', 6, 9, 2), (X'08', X'03', 'a', 2, X'06', NULL, 'running', 7, NULL, '', NULL, NULL, NULL);
         INSERT INTO file_changes (commit_id, path, change, kind, digest, size, mode) VALUES (X'04', 'a.txt', 'added', 'file', 'ab', 4, 420), (X'04', 'gone', 'deleted', NULL, NULL, NULL, NULL);
         INSERT INTO outbox (id, tenant_id, execution_id, seq, kind, payload, idempotency_key, created_at) VALUES (X'09', X'01', X'03', 1, 'node.completed', '{}', 'k', 0);
         INSERT INTO outbox_deliveries (event_id, sink, execution_id, seq, pos, status, attempts, last_error, next_attempt_at, lease_owner, lease_until) VALUES (X'09', 's', X'03', 1, 1, 'pending', 2, 'down', 10, 'me', 20);",
    )
    .unwrap();
    let seeded = rebuilt_rows(&seed);
    assert_eq!(seeded.len(), 5);
    drop(seed);
    let _pool = super::open(&path, Durability::Full).await.unwrap();
    let db = super::connect::open_direct(&path, Durability::Full).unwrap();
    assert_eq!(rebuilt_rows(&db), seeded);
    let check = first_column(&db, "PRAGMA foreign_key_check");
    assert!(check.is_empty(), "{check:?}");
    let open: i64 = db
        .query_row("SELECT count(*) FROM node_boundaries INDEXED BY node_boundaries_open WHERE execution_id = X'03' AND status = 'running'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(open, 1);
    let refused = db.execute("UPDATE node_boundaries SET status = 'lost' WHERE id = X'08'", []);
    assert!(refused.unwrap_err().to_string().contains("CHECK constraint failed"));
    let refused = db.execute("UPDATE file_changes SET kind = 'fifo' WHERE path = 'a.txt'", []);
    assert!(refused.unwrap_err().to_string().contains("CHECK constraint failed"));
}
