//! Property tests (proptest, bounded cases so CI stays quick): merges never produce an entry
//! under a non-directory; restoring any tree, adversarial ones included, never touches
//! anything outside the workspace; parsers of what users and tenants send never panic.

use proptest::prelude::*;
use std::collections::HashMap;
use std::io::Read;
use wtb::capture::{BlobSource, CaptureLimits, DirWorkspace, restore};
use wtb::model::merge_trees;
use wtb::model::{Digest, EntryKind, FileEntry, FileTree, check_tree};

/// Few names, so random paths collide and nest.
const NAMES: &[&str] = &["a", "b", "c"];

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NAMES), 1..4).prop_map(|parts| parts.join("/"))
}

fn kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![Just(EntryKind::File), Just(EntryKind::Dir), Just(EntryKind::Symlink)]
}

/// Link targets a hostile guest would pick, and harmless ones (also file contents).
const LINK_TARGETS: &[&str] = &["../sentinel", "../../", "..", "/", "a", "a/b", "../sentinel/inside"];

fn link_target() -> impl Strategy<Value = &'static str> {
    prop::sample::select(LINK_TARGETS)
}

fn entry(kind: EntryKind, content: &str) -> FileEntry {
    match kind {
        EntryKind::Dir => FileEntry { kind, digest: None, size: 0, mode: 0o755 },
        _ => FileEntry {
            kind,
            digest: Some(Digest::of(content.as_bytes())),
            size: content.len() as u64,
            mode: 0o644,
        },
    }
}

/// One edit a branch makes: `path` becomes `kind` (parents made directories, a replaced
/// subtree removed), or with `None`, `path` and its subtree go.
type Edit = (String, Option<(EntryKind, &'static str)>);

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((path(), prop::option::of((kind(), link_target()))), 0..6)
}

/// Applies edits the way a guest's file system would, so the result is always a workspace.
fn apply(tree: &mut FileTree, edits: &[Edit]) {
    for (path, what) in edits {
        let under = format!("{path}/");
        *tree =
            std::mem::take(tree).into_iter().filter(|(p, _)| p != path && !p.starts_with(&under)).collect();
        let Some((kind, content)) = what else { continue };
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().map_or(&[][..], |(_, init)| init) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if tree.get(&parent).is_some_and(|e| e.kind != EntryKind::Dir) {
                let under = format!("{parent}/");
                *tree = std::mem::take(tree)
                    .into_iter()
                    .filter(|(p, _)| p != &parent && !p.starts_with(&under))
                    .collect();
            }
            tree.insert(parent.clone(), entry(EntryKind::Dir, ""));
        }
        tree.insert(path.clone(), entry(*kind, content));
    }
}

/// Contents by digest, for restore.
struct Blobs(HashMap<Digest, Vec<u8>>);

impl Blobs {
    fn new() -> Self {
        Self(LINK_TARGETS.iter().map(|c| (Digest::of(c.as_bytes()), c.as_bytes().to_vec())).collect())
    }
}

impl BlobSource for Blobs {
    fn open(&self, digest: &Digest) -> std::io::Result<Box<dyn Read + '_>> {
        let bytes = self
            .0
            .get(digest)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such blob"))?;
        Ok(Box::new(bytes.as_slice()))
    }
}

/// Every path under `dir` with its kind and, for files and links, content or target.
fn snapshot(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let md = std::fs::symlink_metadata(&e).unwrap();
        let what = if md.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(&e).unwrap().display())
        } else if md.is_dir() {
            "dir".into()
        } else {
            format!("file {:?}", std::fs::read(&e).unwrap())
        };
        out.push((e.strip_prefix(dir).unwrap().display().to_string(), what));
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let is_dir = e.file_type().unwrap().is_dir();
        out.push(p.clone());
        if is_dir {
            out.extend(walk(&p));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn three_way_merges_never_put_an_entry_under_a_non_directory(base in edits(), left in edits(), right in edits()) {
        let mut b = FileTree::new();
        apply(&mut b, &base);
        prop_assert_eq!(check_tree(&b), Ok(()));
        let (mut l, mut r) = (b.clone(), b.clone());
        apply(&mut l, &left);
        apply(&mut r, &right);
        if let Ok(merged) = merge_trees(&b, &[("left", &l), ("right", &r)]) {
            prop_assert_eq!(check_tree(&merged), Ok(()), "{:?}", merged.keys().collect::<Vec<_>>());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The workspace starts as a hostile guest left it (links out, links where directories
    /// will be); the target is any tree, valid or not. A sentinel directory beside the
    /// workspace must not change, and a valid target must be restored exactly.
    #[test]
    fn restoring_any_tree_never_touches_anything_outside_the_workspace(
        left_behind in edits(),
        target_edits in edits(),
        raw in prop::collection::vec((path(), kind(), link_target()), 0..4),
    ) {
        let scratch = tempfile::tempdir().unwrap();
        let (ws_path, sentinel) = (scratch.path().join("ws"), scratch.path().join("sentinel"));
        std::fs::create_dir_all(sentinel.join("inside")).unwrap();
        std::fs::write(sentinel.join("keep.txt"), "keep").unwrap();
        std::fs::create_dir(&ws_path).unwrap();
        let before = snapshot(&sentinel);
        let blobs = Blobs::new();
        let limits = CaptureLimits { max_file_bytes: 1 << 20, max_entries: 10_000, inline_max_bytes: 4096 };
        let open = || DirWorkspace::new(cap_std::fs::Dir::open_ambient_dir(&ws_path, cap_std::ambient_authority()).unwrap(), ws_path.clone());

        // What the guest left: built by restoring a valid tree of links and files.
        let mut hostile = FileTree::new();
        apply(&mut hostile, &left_behind);
        restore(&mut open(), &hostile, &blobs, &limits).unwrap();

        // The target: valid edits, then raw entries that may sit under anything.
        let mut target = FileTree::new();
        apply(&mut target, &target_edits);
        for (p, k, c) in &raw {
            target.insert(p.clone(), entry(*k, c));
        }
        let valid = check_tree(&target).is_ok();
        let result = restore(&mut open(), &target, &blobs, &limits);
        prop_assert_eq!(snapshot(&sentinel), before.clone(), "the sentinel changed");
        prop_assert_eq!(result.is_ok(), valid, "{:?}", result.err());
        if valid {
            let on_disk: Vec<String> = snapshot(&ws_path).into_iter().map(|(p, _)| p).collect();
            prop_assert_eq!(on_disk, target.keys().cloned().collect::<Vec<_>>());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Manifests, experiment specs and state updates come from users and tenants (the API
    /// takes all three as bodies): any text gets an answer, never a panic.
    #[test]
    fn parsers_of_user_input_never_panic(text in "\\PC{0,300}", toml_like in toml_text()) {
        for t in [&text, &toml_like] {
            let _ = wtb::workflow::Manifest::parse("fuzz.toml", t);
            let _ = wtb::experiment::ExperimentSpec::parse("fuzz.toml", t);
            let _ = wtb::workflow::parse_update(t, 1 << 20);
        }
    }
}

/// Text shaped like a manifest, so the parser gets past TOML syntax to its own checks.
fn toml_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(
        &[
            "name",
            "id",
            "component",
            "config",
            "limits",
            "memory_mib",
            "timeout_ms",
            "join",
            "from",
            "to",
            "label",
            "reducers",
            "state",
            "max_steps",
            "retry",
            "fixtures",
            "env",
            "workflow",
            "variants",
            "environments",
            "repetitions",
        ][..],
    );
    let value = prop::sample::select(
        &[
            "\"x\"",
            "1",
            "-1",
            "99999999999999999999",
            "true",
            "[]",
            "{}",
            "{ a = 1 }",
            "\"probe.wasm\"",
            "1e400",
            "\"\"",
            "[[1]]",
        ][..],
    );
    let header = prop::sample::select(
        &[
            "",
            "[[nodes]]\n",
            "[[edges]]\n",
            "[limits]\n",
            "[state]\n",
            "[reducers]\n",
            "[[variants]]\n",
            "[[environments]]\n",
            "[nodes.limits]\n",
        ][..],
    );
    prop::collection::vec((header, key, value), 0..12)
        .prop_map(|lines| lines.into_iter().map(|(h, k, v)| format!("{h}{k} = {v}\n")).collect())
}
