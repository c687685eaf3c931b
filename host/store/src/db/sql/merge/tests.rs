//! Tests of `merge`.

use super::*;

/// What a batch runs: each statement's text and the values it binds.
fn runs<V: std::borrow::Borrow<Value>>(batch: &Batch<V>) -> Vec<(String, Vec<Value>)> {
    let mut values = batch.values.iter().map(|v| v.borrow().clone());
    batch.statements.iter().map(|s| (s.sql.clone(), values.by_ref().take(s.binds).collect())).collect()
}

fn int(n: i64) -> Value {
    Value::Int(Some(n))
}

/// A unit like a node's exit: a file commit, two checkpoints (rows of one insert), a closed
/// attempt, the progress; `n` tells its values apart.
fn exit(n: i64) -> Batch {
    let mut b = Batch::new();
    b.rows(Phase::FileCommits, "INSERT INTO c (id)", "(?)", 1, "").bind(int(n));
    b.rows(Phase::Checkpoints, "INSERT INTO k (id, c)", "(?, ?)", 2, "");
    b.bind(int(n * 10)).bind(int(n)).bind(int(n * 10 + 1)).bind(int(n));
    b.statement_in(Phase::CloseBoundaries, "UPDATE b SET s = ? WHERE id = ?").bind(int(1)).bind(int(n));
    b.statement_in(Phase::Progress, "UPDATE e SET at = ? WHERE id = ?").bind(int(n)).bind(int(7));
    b
}

#[test]
fn a_group_runs_phase_by_phase_with_the_rows_of_each_table_joined() {
    let (a, b) = (exit(1), exit(2));
    let merged = merge(&[&a, &b]).expect("every statement has a phase");
    assert_eq!(
        runs(&merged),
        vec![
            ("INSERT INTO c (id) VALUES (?), (?)".into(), vec![int(1), int(2)]),
            (
                "INSERT INTO k (id, c) VALUES (?, ?), (?, ?), (?, ?), (?, ?)".into(),
                vec![int(10), int(1), int(11), int(1), int(20), int(2), int(21), int(2)],
            ),
            ("UPDATE b SET s = ? WHERE id = ?".into(), vec![int(1), int(1)]),
            ("UPDATE b SET s = ? WHERE id = ?".into(), vec![int(1), int(2)]),
            // Updates of one row keep the units' order: the later unit's progress wins.
            ("UPDATE e SET at = ? WHERE id = ?".into(), vec![int(1), int(7)]),
            ("UPDATE e SET at = ? WHERE id = ?".into(), vec![int(2), int(7)]),
        ]
    );
}

#[test]
fn a_later_phase_of_an_earlier_unit_runs_after_an_earlier_phase_of_a_later_one() {
    // The first unit only progresses an execution; the second inserts one.
    let mut a = Batch::new();
    a.statement_in(Phase::Progress, "UPDATE e SET at = ? WHERE id = ?").bind(int(1)).bind(int(1));
    let mut b = Batch::new();
    b.rows(Phase::Executions, "INSERT INTO e (id)", "(?)", 1, "").bind(int(2));
    let sql: Vec<String> = runs(&merge(&[&a, &b]).unwrap()).into_iter().map(|(s, _)| s).collect();
    assert_eq!(sql, ["INSERT INTO e (id) VALUES (?)", "UPDATE e SET at = ? WHERE id = ?"]);
}

#[test]
fn rows_go_in_power_of_two_inserts_and_shapes_stay_apart() {
    let units: Vec<Batch> = (0..7)
        .map(|n| {
            let mut b = Batch::new();
            let tail = if n == 3 { "" } else { "ON CONFLICT DO NOTHING" };
            b.rows(Phase::Blobs, "INSERT INTO t (x, y)", "(?, 1, ?)", 1, tail).bind(int(n)).bind(int(-n));
            b
        })
        .collect();
    let merged = merge(&units.iter().collect::<Vec<_>>()).unwrap();
    let got: Vec<(String, Vec<Value>)> = runs(&merged);
    let rows = |n: usize| vec!["(?, 1, ?)"; n].join(", ");
    let values = |ns: &[i64]| ns.iter().flat_map(|&n| [int(n), int(-n)]).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (
                format!("INSERT INTO t (x, y) VALUES {} ON CONFLICT DO NOTHING", rows(4)),
                values(&[0, 1, 2, 4])
            ),
            (format!("INSERT INTO t (x, y) VALUES {} ON CONFLICT DO NOTHING", rows(2)), values(&[5, 6])),
            // The other shape, where it first appeared.
            (format!("INSERT INTO t (x, y) VALUES {}", rows(1)), values(&[3])),
        ]
    );
}

#[test]
fn a_statement_without_a_phase_or_a_lone_unit_is_not_merged() {
    let (a, b) = (exit(1), exit(2));
    assert!(merge(&[&a]).is_none(), "nothing to gain");
    let mut odd = exit(3);
    odd.statement("DELETE FROM x");
    assert!(merge(&[&a, &odd, &b]).is_none());
    let mut unbound = exit(4);
    unbound.bind(int(0));
    unbound.error = Some("bound before any statement".into());
    assert!(merge(&[&a, &unbound]).is_none());
}
