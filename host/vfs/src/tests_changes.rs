//! [`Vfs::changed`] against a full listing: after any sequence of operations, the previous
//! listing with the reported changes applied is the tree [`Vfs::entries`] lists now.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A listing reduced to what a capture records: kind and bytes (or target) per path.
type Summary = BTreeMap<String, (Kind, Vec<u8>)>;

fn summary_of(entries: Vec<(String, Entry)>) -> Summary {
    entries.into_iter().map(|(path, e)| (path, summarize(e))).collect()
}

fn summarize(e: Entry) -> (Kind, Vec<u8>) {
    match e {
        Entry::File(_, c) => (Kind::File, c.loaded().map(|b| b.to_vec()).unwrap_or_default()),
        Entry::Dir(_) => (Kind::Dir, Vec::new()),
        Entry::Symlink(_, t) => (Kind::Symlink, t.into_bytes()),
    }
}

/// `prev` with `changed` applied, as a capture applies it.
fn apply(mut prev: Summary, changed: Changed) -> Summary {
    for path in &changed.dropped {
        prev.remove(path);
        let under = format!("{path}/");
        let gone: Vec<String> = prev
            .range(under.clone()..)
            .take_while(|(k, _)| k.starts_with(&under))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            prev.remove(&k);
        }
    }
    for (path, e) in changed.entries {
        prev.insert(path, summarize(e));
    }
    prev
}

#[derive(Clone, Debug)]
enum Op {
    Mkdir(String),
    Create(String, u8),
    /// Write through a descriptor opened earlier (maybe before the last capture).
    WriteHeld(usize, u8),
    Truncate(String),
    Unlink(String),
    Rmdir(String),
    Rename(String, String),
    Link(String, String),
    Symlink(String),
    Capture,
}

fn path() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["a", "b", "c"]);
    prop::collection::vec(name, 1..4).prop_map(|v| v.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Mkdir),
        (path(), any::<u8>()).prop_map(|(p, b)| Op::Create(p, b)),
        (0..4usize, any::<u8>()).prop_map(|(i, b)| Op::WriteHeld(i, b)),
        path().prop_map(Op::Truncate),
        path().prop_map(Op::Unlink),
        path().prop_map(Op::Rmdir),
        (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        path().prop_map(Op::Symlink),
        Just(Op::Capture),
    ]
}

/// Runs `op`, ignoring the errors a real directory would give too.
fn run(vfs: &mut Vfs, held: &mut Vec<Ino>, op: &Op) {
    let write = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    match op {
        Op::Mkdir(p) => {
            let _ = vfs.mkdir(Vfs::ROOT, p);
        }
        Op::Create(p, b) => {
            if let Ok(Opened::File(ino)) = vfs.open(Vfs::ROOT, p, Follow::Yes, write) {
                vfs.write(ino, None, &[*b]).unwrap();
                held.push(ino);
            }
        }
        Op::WriteHeld(i, b) => {
            if let Some(ino) = held.get(*i).copied() {
                let _ = vfs.write(ino, Some(0), &[*b, *b]);
            }
        }
        Op::Truncate(p) => {
            let flags = OpenFlags { truncate: true, write: true, ..OpenFlags::default() };
            let _ = vfs.open(Vfs::ROOT, p, Follow::Yes, flags);
        }
        Op::Unlink(p) => {
            let _ = vfs.unlink(Vfs::ROOT, p);
        }
        Op::Rmdir(p) => {
            let _ = vfs.rmdir(Vfs::ROOT, p);
        }
        Op::Rename(a, b) => {
            let _ = vfs.rename(Vfs::ROOT, a, Vfs::ROOT, b);
        }
        Op::Link(a, b) => {
            let _ = vfs.link(Vfs::ROOT, a, Vfs::ROOT, b);
        }
        Op::Symlink(p) => {
            let _ = vfs.symlink(Vfs::ROOT, "a/b", p);
        }
        Op::Capture => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn changes_applied_to_the_last_listing_give_the_tree(ops in prop::collection::vec(op(), 1..40)) {
        let mut vfs = Vfs::default();
        let mut held = Vec::new();
        let mut listed = summary_of(vfs.entries().unwrap());
        vfs.mark();
        for op in &ops {
            run(&mut vfs, &mut held, op);
            if let Op::Capture = op {
                for (path, entry) in vfs.entries().unwrap() {
                    if let Entry::Dir(ino) = entry {
                        let subdirs = vfs.read_dir(ino).unwrap().iter().filter(|(_, k)| *k == Kind::Dir).count();
                        prop_assert_eq!(vfs.stat(ino).unwrap().nlink, 2 + subdirs as u64, "{}", path);
                    }
                }
                let now = summary_of(vfs.entries().unwrap());
                if let Some(changed) = vfs.changed() {
                    prop_assert_eq!(&apply(listed.clone(), changed), &now, "after {:?}", ops);
                }
                listed = now;
                vfs.mark();
            }
        }
        if let Some(changed) = vfs.changed() {
            prop_assert_eq!(apply(listed, changed), summary_of(vfs.entries().unwrap()), "at the end of {:?}", ops);
        }
    }
}

#[test]
fn an_unchanged_tree_reports_no_change_and_a_write_reports_its_path() {
    let mut vfs = Vfs::default();
    vfs.mkdir(Vfs::ROOT, "out").unwrap();
    let write = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    let Ok(Opened::File(f)) = vfs.open(Vfs::ROOT, "out/x", Follow::No, write) else { panic!("a file") };
    vfs.mark();
    assert!(vfs.changed().expect("known").is_empty());
    let Ok(Opened::File(g)) = vfs.open(Vfs::ROOT, "out/x", Follow::No, write) else { panic!("a file") };
    assert_eq!(f, g);
    vfs.write(g, None, b"1").unwrap();
    let changed = vfs.changed().expect("known");
    assert_eq!(changed.dropped, ["out/x"]);
    assert_eq!(changed.entries.len(), 1);
}

#[test]
fn a_write_through_a_descriptor_older_than_the_mark_or_a_second_name_is_unknown() {
    let mut vfs = Vfs::default();
    let write = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    let Ok(Opened::File(f)) = vfs.open(Vfs::ROOT, "x", Follow::No, write) else { panic!("a file") };
    vfs.link(Vfs::ROOT, "x", Vfs::ROOT, "y").unwrap();
    vfs.mark();
    vfs.write(f, None, b"1").unwrap();
    assert!(vfs.changed().is_none(), "opened before the mark");
    vfs.mark();
    let Ok(Opened::File(_)) = vfs.open(Vfs::ROOT, "x", Follow::No, write) else { panic!("a file") };
    vfs.write(f, None, b"2").unwrap();
    assert!(vfs.changed().is_none(), "`y` names it too");
}

#[test]
fn a_journal_past_its_bounds_gives_up_instead_of_growing() {
    let mut vfs = Vfs::default();
    vfs.mark();
    let write = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    for i in 0..20_000 {
        let name = format!("f{i}");
        vfs.open(Vfs::ROOT, &name, Follow::No, write).unwrap();
        vfs.unlink(Vfs::ROOT, &name).unwrap();
    }
    assert!(vfs.changed().is_none());
    assert_eq!(vfs.journal.names.len(), 0, "its memory is released");
}
