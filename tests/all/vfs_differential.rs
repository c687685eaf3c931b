//! The in-memory workspace against a real directory: the same guest making the same seeded
//! random `wasi:filesystem` calls must see the same results (error codes, link counts, sizes,
//! contents, listings) and leave the same tree, for every seed.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wtb::runtime::{
    CancelSignal, Limits, Mount, NodeCall, Outcome, Runtime, SharedVfs, Tuning, WorkspaceKind,
};
use wtb::workflow::Network;
use wtb_vfs::{Entry, Vfs};

/// One path of a final tree: kind, then content, link target or nothing; then the link count.
type Tree = BTreeMap<String, (String, Vec<u8>, u64)>;

fn runtime(dir: &Path, workspace: WorkspaceKind) -> Runtime {
    let cache = dir.join(format!("cache-{workspace:?}"));
    std::fs::create_dir_all(&cache).unwrap();
    let cache = cap_std::fs::Dir::open_ambient_dir(&cache, cap_std::ambient_authority()).unwrap();
    Runtime::with_tuning(cache, Tuning { workspace, ..Tuning::default() }).unwrap()
}

fn call(seed: u64, count: usize) -> NodeCall {
    NodeCall {
        execution: "differential".into(),
        node: "fsops".into(),
        attempt: 1,
        state: "{}".into(),
        config: json!({ "action": "fs_ops", "seed": seed, "count": count }).to_string(),
        env: BTreeMap::new(),
        args: Vec::new(),
        fixtures: Vec::new(),
        seed: None,
        clock: None,
    }
}

fn log_of(outcome: &Outcome) -> Vec<String> {
    let Outcome::Returned { update, .. } = outcome else { panic!("the guest did not return: {outcome:?}") };
    let update: Value = serde_json::from_str(update).unwrap();
    update["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect()
}

fn dir_tree(root: &Path) -> Tree {
    use std::os::unix::fs::MetadataExt as _;
    let mut tree = Tree::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let meta = std::fs::symlink_metadata(root.join(&path)).unwrap();
            let entry = if meta.is_dir() {
                stack.push(path.clone());
                ("dir".to_owned(), Vec::new(), 0)
            } else if meta.is_symlink() {
                let t = std::fs::read_link(root.join(&path)).unwrap();
                ("symlink".to_owned(), t.into_os_string().into_encoded_bytes(), meta.nlink())
            } else {
                ("file".to_owned(), std::fs::read(root.join(&path)).unwrap(), meta.nlink())
            };
            tree.insert(path, entry);
        }
    }
    tree
}

fn vfs_tree(vfs: &SharedVfs) -> Tree {
    let mut vfs = vfs.lock().unwrap();
    let mut tree = Tree::new();
    for (path, entry) in vfs.entries().unwrap() {
        let entry = match entry {
            Entry::Dir(_) => ("dir".to_owned(), Vec::new(), 0),
            Entry::Symlink(ino, t) => ("symlink".to_owned(), t.into_bytes(), vfs.stat(ino).unwrap().nlink),
            Entry::File(ino, _) => {
                let nlink = vfs.stat(ino).unwrap().nlink;
                ("file".to_owned(), vfs.contents(ino).unwrap().to_vec(), nlink)
            }
        };
        tree.insert(path, entry);
    }
    tree
}

/// Runs `seed` on both and panics with the first difference.
async fn compare(dir: &Path, on_disk: &Runtime, in_memory: &Runtime, seed: u64, count: usize) {
    let node = on_disk.prepare(wtb_tests::PROBE.into(), Network::None).await.unwrap();
    let virt = in_memory.prepare(wtb_tests::PROBE.into(), Network::None).await.unwrap();
    let ws = dir.join(format!("ws-{seed}"));
    std::fs::create_dir(&ws).unwrap();
    let (limits, cancel) = (Limits::default(), CancelSignal::default());
    let real = on_disk.run(&node, &call(seed, count), Mount::Directory(&ws), &limits, &cancel).await;
    let vfs: SharedVfs = Arc::new(Mutex::new(Vfs::default()));
    let ours = in_memory.run(&virt, &call(seed, count), Mount::Virtual(&vfs), &limits, &cancel).await;
    let (real_log, our_log) = (log_of(&real.outcome), log_of(&ours.outcome));
    for (r, o) in real_log.iter().zip(&our_log) {
        assert_eq!(o, r, "seed {seed}: the in-memory workspace differs (left) from a directory (right)");
    }
    assert_eq!(our_log.len(), real_log.len(), "seed {seed}");
    assert_eq!(vfs_tree(&vfs), dir_tree(&ws), "seed {seed}: final trees differ");
}

#[tokio::test(flavor = "multi_thread")]
async fn random_filesystem_calls_see_the_same_results_in_memory_as_on_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (on_disk, in_memory) =
        (runtime(dir.path(), WorkspaceKind::Directory), runtime(dir.path(), WorkspaceKind::Virtual));
    let seeds: u64 = std::env::var("WTB_VFS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let count: usize = std::env::var("WTB_VFS_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    for seed in 0..seeds {
        compare(dir.path(), &on_disk, &in_memory, seed, count).await;
    }
}
