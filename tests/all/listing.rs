//! `list` against thousands of rows: every execution exactly once across cursor pages, also
//! while new ones arrive, and filters that combine. (The system we replace listed nothing.)

use serde_json::{Map, json};
use std::collections::HashSet;
use wtb::clock::{IdGen as _, UuidV7Ids};
use wtb::db::ListFilter;
use wtb::model::{Execution, ExecutionId, ExecutionStatus, TenantId, Timestamp, WorkflowId, WorkflowRecord};
use wtb_tests::Harness;

const STATUSES: [ExecutionStatus; 6] = [
    ExecutionStatus::Pending,
    ExecutionStatus::Running,
    ExecutionStatus::Paused,
    ExecutionStatus::Completed,
    ExecutionStatus::Failed,
    ExecutionStatus::Cancelled,
];

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_executions_page_exactly_once_and_filters_combine() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf =
        exec.load_workflow(&h.probe_workflow("root", &[("a", json!({ "action": "write" }))])).await.unwrap();
    let root = exec.run(&wf, Map::new()).await.unwrap().execution;
    let root_cp = exec.inspect().describe(root).await.unwrap().checkpoints[0].checkpoint.id;

    // Planted through the executor's own pool (either backend), in one transaction.
    let mut tx = wtb_tests::sql_pool(&exec).begin().await.unwrap();
    let mut workflows = Vec::new();
    for name in ["alpha", "beta"] {
        let record = WorkflowRecord {
            id: WorkflowId::from_uuid(UuidV7Ids.next()),
            tenant: TenantId::DEFAULT,
            name: name.into(),
            digest: wtb_tests::digest(name.as_bytes()),
            definition: json!({ "name": name }),
            created_at: Timestamp::from_micros(0),
        };
        workflows.push(wtb::db::sql::workflow::insert_or_get(&mut tx.conn(), &record).await.unwrap());
    }
    const N: usize = 10_000;
    let t0 = 1_900_000_000_000_000i64;
    let mut rows = Vec::with_capacity(N);
    for i in 0..N {
        let forked = i % 7 == 0;
        let e = Execution {
            id: ExecutionId::from_uuid(UuidV7Ids.next()),
            tenant: TenantId::DEFAULT,
            workflow: workflows[usize::from(i % 5 == 0)],
            status: STATUSES[i % 6],
            cursor: None,
            parent_checkpoint: forked.then_some(root_cp),
            parent_execution: forked.then_some(root),
            variant: (i % 2 == 0).then(|| format!("v{}", i % 3)),
            environment: Default::default(),
            error: None,
            created_at: Timestamp::from_micros(t0 + i as i64 * 1_000_000),
            updated_at: Timestamp::from_micros(t0),
        };
        wtb::db::sql::execution::insert(&mut tx.conn(), &e).await.unwrap();
        rows.push((i, e));
    }
    tx.commit().await.unwrap();

    // Every execution exactly once, newest first, even with new ones arriving mid-way.
    let mut seen: Vec<ExecutionId> = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = exec.inspect().list(&ListFilter::default(), after, 137).await.unwrap();
        seen.extend(page.executions.iter().map(|e| e.id));
        pages += 1;
        if pages == 3 {
            exec.run(&wf, Map::new()).await.unwrap();
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        N + 1,
        "{N} inserted plus the root; the one started while paging sorts before the cursor"
    );
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len(), "no execution twice");
    assert!(seen.windows(2).all(|w| w[0].uuid() > w[1].uuid()), "newest first");
    assert_eq!(pages, (N + 1).div_ceil(137));

    // Filters combine: each page and the total match what the rows say.
    let expect = |f: &dyn Fn(usize, &Execution) -> bool| -> HashSet<ExecutionId> {
        rows.iter().filter(|(i, e)| f(*i, e)).map(|(_, e)| e.id).collect()
    };
    let all_pages = |filter: ListFilter| {
        let exec = &exec;
        async move {
            let mut out = HashSet::new();
            let mut after = None;
            loop {
                let page = exec.inspect().list(&filter, after, 500).await.unwrap();
                for e in &page.executions {
                    assert!(out.insert(e.id), "listed twice");
                }
                match page.next {
                    Some(n) => after = Some(n),
                    None => return out,
                }
            }
        }
    };
    let filter = ListFilter {
        status: Some(ExecutionStatus::Failed),
        variant: Some("v1".into()),
        workflow: Some("beta".into()),
        ..Default::default()
    };
    let want = expect(&|i, _| i % 6 == 4 && i % 2 == 0 && i % 3 == 1 && i % 5 == 0);
    assert!(!want.is_empty());
    assert_eq!(all_pages(filter).await, want);
    let window = ListFilter {
        created_after: Some(Timestamp::from_micros(t0 + 2_000 * 1_000_000)),
        created_before: Some(Timestamp::from_micros(t0 + 2_500 * 1_000_000)),
        status: Some(ExecutionStatus::Paused),
        ..Default::default()
    };
    assert_eq!(all_pages(window).await, expect(&|i, _| (2_000..2_500).contains(&i) && i % 6 == 2));
    let forks = all_pages(ListFilter { parent: Some(root), ..Default::default() }).await;
    assert_eq!(forks, expect(&|i, _| i % 7 == 0));
    assert_eq!(
        all_pages(ListFilter {
            fork_of: Some(root_cp),
            workflow: Some(wtb_tests::digest(b"alpha").to_hex()),
            ..Default::default()
        })
        .await,
        expect(&|i, _| i % 7 == 0 && i % 5 != 0)
    );
    assert!(
        all_pages(ListFilter { workflow: Some("no-such-workflow".into()), ..Default::default() })
            .await
            .is_empty()
    );
}
