//! What the differential test cannot reach cheaply: budgets, snapshots, removed-but-open
//! inodes, and hostile shapes (deep chains, loops) at sizes a guest run would take long to
//! build.

use super::*;

fn file(vfs: &mut Vfs, path: &str, text: &str) -> Ino {
    let flags = OpenFlags { create: true, write: true, ..OpenFlags::default() };
    let Opened::File(ino) = vfs.open(Vfs::ROOT, path, Follow::No, flags).unwrap() else { panic!("a file") };
    vfs.write(ino, Some(0), text.as_bytes()).unwrap();
    ino
}

#[test]
fn a_clone_is_a_snapshot_that_later_writes_do_not_change() {
    let mut vfs = Vfs::default();
    vfs.mkdir(Vfs::ROOT, "d").unwrap();
    let f = file(&mut vfs, "d/f", "one");
    let mut snapshot = vfs.clone();
    vfs.write(f, Some(0), b"two").unwrap();
    vfs.unlink(Vfs::ROOT, "d/f").unwrap();
    assert_eq!(vfs.lookup(Vfs::ROOT, "d/f", Follow::No), Err(Errno::NoEntry));
    let kept = snapshot.lookup(Vfs::ROOT, "d/f", Follow::No).unwrap();
    assert_eq!(snapshot.contents(kept).unwrap().as_slice(), b"one");
}

#[test]
fn a_removed_file_lives_while_held_and_is_freed_when_closed() {
    let mut vfs = Vfs::default();
    let f = file(&mut vfs, "f", "12345");
    vfs.hold(f);
    vfs.unlink(Vfs::ROOT, "f").unwrap();
    assert_eq!(vfs.read(f, 0, 10).unwrap(), b"12345");
    assert_eq!(vfs.stat(f).unwrap().nlink, 0);
    assert_eq!(vfs.bytes(), 5);
    vfs.close(f);
    assert_eq!(vfs.stat(f), Err(Errno::NoEntry));
    assert_eq!(vfs.bytes(), 0, "its bytes are released");
}

#[test]
fn the_budget_bounds_bytes_and_inodes_whatever_the_calls() {
    let mut vfs = Vfs::new(Budget { bytes: 10, inodes: 3 });
    let f = file(&mut vfs, "f", "0123456789");
    assert_eq!(vfs.write(f, Some(10), b"x"), Err(Errno::InsufficientSpace));
    assert_eq!(vfs.set_size(f, 1 << 40), Err(Errno::InsufficientSpace), "no sparse terabyte");
    vfs.set_size(f, 4).unwrap();
    vfs.write(f, None, b"abcdef").unwrap();
    vfs.mkdir(Vfs::ROOT, "d").unwrap();
    assert_eq!(vfs.mkdir(Vfs::ROOT, "e"), Err(Errno::InsufficientSpace), "root, f, d: three inodes");
    assert_eq!(vfs.symlink(Vfs::ROOT, "f", "l"), Err(Errno::InsufficientSpace));
}

#[test]
fn a_ten_thousand_deep_chain_resolves_and_its_listing_stops_at_the_first_path_too_long_to_name() {
    let mut vfs = Vfs::default();
    let mut path = String::from("d");
    for _ in 0..10_000 {
        vfs.mkdir(Vfs::ROOT, &path).unwrap_or_else(|e| panic!("{e} at depth {}", path.len() / 2));
        if path.len() + 2 >= PATH_MAX {
            break;
        }
        path.push_str("/d");
    }
    assert_eq!(vfs.mkdir(Vfs::ROOT, &format!("{path}/d")), Err(Errno::NameTooLong));
    // Deeper than any path can name, through descriptors opened one level at a time.
    let mut dir = vfs.lookup(Vfs::ROOT, &path, Follow::No).unwrap();
    for _ in 0..10_000 {
        vfs.mkdir(dir, "d").unwrap();
        dir = vfs.lookup(dir, "d", Follow::No).unwrap();
    }
    // Listing stops at the first path too long to name, instead of building the square of the
    // depth in path bytes.
    let err = vfs.entries().unwrap_err();
    assert!(err.prefix.starts_with("d/d/d") && err.prefix.len() <= 64, "{err}");
}

#[test]
fn symlink_loops_and_escapes_are_refused() {
    let mut vfs = Vfs::default();
    vfs.symlink(Vfs::ROOT, "b", "a").unwrap();
    vfs.symlink(Vfs::ROOT, "a", "b").unwrap();
    assert_eq!(vfs.lookup(Vfs::ROOT, "a", Follow::Yes), Err(Errno::Loop));
    assert_eq!(vfs.lookup(Vfs::ROOT, "a/x", Follow::No), Err(Errno::Loop));
    vfs.symlink(Vfs::ROOT, "../outside", "up").unwrap();
    assert_eq!(vfs.lookup(Vfs::ROOT, "up", Follow::Yes), Err(Errno::NotPermitted));
    assert_eq!(vfs.symlink(Vfs::ROOT, "/etc", "abs"), Err(Errno::NotPermitted));
    assert_eq!(vfs.lookup(Vfs::ROOT, "..", Follow::No), Err(Errno::NotPermitted));
    vfs.mkdir(Vfs::ROOT, "d").unwrap();
    let d = vfs.lookup(Vfs::ROOT, "d", Follow::No).unwrap();
    assert_eq!(vfs.lookup(d, "..", Follow::No), Err(Errno::NotPermitted), "not above the descriptor");
    assert_eq!(vfs.lookup(d, "../d", Follow::No), Err(Errno::NotPermitted));
}

#[test]
fn a_tree_round_trips_through_entries_and_insert_with_contents_loaded_lazily() {
    struct Fixed;
    impl Loader for Fixed {
        fn load(&self, key: &Key) -> std::io::Result<Vec<u8>> {
            Ok(key[..3].to_vec())
        }
    }
    let mut vfs = Vfs::default();
    vfs.set_loader(Arc::new(Fixed));
    vfs.insert("d", Entry::Dir(Ino(0)), 0o700).unwrap();
    let f = vfs
        .insert(
            "d/f",
            Entry::File(
                Ino(0),
                Content::stored(*b"abc\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 3),
            ),
            0o600,
        )
        .unwrap();
    vfs.insert("l", Entry::Symlink(Ino(0), "d/f".into()), 0o777).unwrap();
    assert_eq!(vfs.insert("x/y", Entry::Dir(Ino(0)), 0o755), Err(Errno::NoEntry), "parents first");
    assert_eq!(vfs.stat(f).unwrap().mode, 0o600);
    let f = vfs.lookup(Vfs::ROOT, "l", Follow::Yes).unwrap();
    assert_eq!(vfs.stat(f).unwrap().size, 3, "known before loading");
    assert_eq!(vfs.read(f, 1, 5).unwrap(), b"bc");
    let paths: Vec<String> = vfs.entries().unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["d", "l", "d/f"]);
}

#[test]
fn workspaces_in_one_pool_share_its_bytes_and_give_them_back() {
    let pool = Pool::new(10);
    let mut a = Vfs::in_pool(Budget::default(), pool.clone());
    let mut b = Vfs::in_pool(Budget::default(), pool.clone());
    let f = file(&mut a, "f", "123456");
    let g = file(&mut b, "g", "");
    assert_eq!(b.write(g, Some(0), b"12345"), Err(Errno::InsufficientSpace), "6 + 5 > 10");
    b.write(g, Some(0), b"1234").unwrap();
    assert_eq!(pool.used(), 10);
    a.set_size(f, 1).unwrap();
    assert_eq!(pool.used(), 5);
    let snapshot = a.clone();
    assert_eq!(pool.used(), 6, "a snapshot holds its bytes too");
    drop((a, snapshot, b));
    assert_eq!(pool.used(), 0);
}
