//! A seeded random sequence of `wasi:filesystem` calls, each logged with its result: the
//! differential test runs the same seed against a directory-backed and an in-memory workspace
//! and requires the same log and the same final tree.
//!
//! The calls go straight to `wasi:filesystem` (not through std), so every error code and stat
//! field the guest could observe is in the log. Inode numbers and times are left out (they
//! differ by design); so is a directory's size (filesystem-specific even between two real
//! filesystems).

use wasi::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, NewTimestamp, OpenFlags, PathFlags,
};
use wasi::io::streams::StreamError;

/// splitmix64: tiny, seedable, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const NAMES: &[&str] = &["a", "b", "c", "f", "g", "l", "m"];
const ODD: &[&str] = &[".", "..", "", "/abs", "a//b", "./a", "a/..", "a/../..", "l/", "f/", "a/./b/"];

fn path(r: &mut Rng) -> String {
    if r.chance(12) {
        return r.pick(ODD).to_owned();
    }
    if r.chance(2) {
        return "n".repeat(256);
    }
    let depth = 1 + r.below(3);
    let parts: Vec<&str> = (0..depth).map(|_| r.pick(NAMES)).collect();
    let mut p = parts.join("/");
    if r.chance(5) {
        p.push('/');
    }
    p
}

fn target(r: &mut Rng) -> String {
    match r.below(10) {
        0 => "/etc".to_owned(),
        1 => "../..".to_owned(),
        2 => "..".to_owned(),
        3 => "l".to_owned(),
        _ => path(r),
    }
}

fn data(r: &mut Rng, i: usize) -> Vec<u8> {
    let len = r.below(24) as usize;
    (0..len).map(|k| b'a' + ((i + k) % 26) as u8).collect()
}

fn kind(t: DescriptorType) -> &'static str {
    match t {
        DescriptorType::Directory => "dir",
        DescriptorType::RegularFile => "file",
        DescriptorType::SymbolicLink => "symlink",
        _ => "other",
    }
}

fn stat_text(s: wasi::filesystem::types::DescriptorStat) -> String {
    match s.type_ {
        DescriptorType::Directory => format!("dir nlink={}", s.link_count),
        t => format!("{} nlink={} size={}", kind(t), s.link_count, s.size),
    }
}

fn res<T>(r: Result<T, ErrorCode>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => format!("ok {}", ok(v)),
        Err(e) => format!("err {}", e.name()),
    }
}

/// Bytes as text, or their length and a checksum when long.
fn shown(b: &[u8]) -> String {
    if b.len() <= 64 {
        return format!("{:?}", String::from_utf8_lossy(b));
    }
    let sum = b.iter().fold(0u64, |s, x| s.wrapping_mul(31).wrapping_add(u64::from(*x)));
    format!("{} bytes, sum {sum:x}", b.len())
}

fn stream_res(r: Result<Vec<u8>, StreamError>) -> String {
    match r {
        Ok(b) => format!("ok {}", shown(&b)),
        Err(StreamError::Closed) => "closed".to_owned(),
        Err(StreamError::LastOperationFailed(e)) => {
            format!("failed {:?}", wasi::filesystem::types::filesystem_error_code(&e).map(|c| c.name()))
        }
    }
}

/// Runs `count` random calls from `seed`; returns one line per call.
pub(crate) fn run(seed: u64, count: usize) -> Vec<String> {
    let mut r = Rng(seed);
    let dirs = wasi::filesystem::preopens::get_directories();
    let root = dirs.into_iter().find(|(_, p)| p == "/").map(|(d, _)| d).expect("a workspace at /");
    let mut log = Vec::with_capacity(count + 1);
    // A file larger than one `read` returns (64 KiB), open for reading and writing.
    let big = root.open_at(
        PathFlags::empty(),
        "big",
        OpenFlags::CREATE,
        DescriptorFlags::READ | DescriptorFlags::WRITE,
    );
    let big = big.and_then(|d| d.write(&vec![b'z'; 70_000], 0).map(|n| (d, n)));
    log.push(format!(
        "big {}",
        res(big.as_ref().map(|(_, n)| *n).map_err(Clone::clone), |n: u64| n.to_string())
    ));
    let mut fds: Vec<Descriptor> = vec![root];
    fds.extend(big.ok().map(|(d, _)| d));
    for i in 0..count {
        let a = r.below(fds.len() as u64) as usize;
        let b = r.below(fds.len() as u64) as usize;
        let follow = if r.chance(50) { PathFlags::SYMLINK_FOLLOW } else { PathFlags::empty() };
        let op = r.below(22);
        let line = match op {
            0 | 1 => {
                let p = path(&mut r);
                format!("mkdir({a},{p}) {}", res(fds[a].create_directory_at(&p), |()| String::new()))
            }
            2..=4 => {
                let p = path(&mut r);
                let mut o = OpenFlags::empty();
                for (pct, flag) in [
                    (45, OpenFlags::CREATE),
                    (15, OpenFlags::EXCLUSIVE),
                    (15, OpenFlags::TRUNCATE),
                    (15, OpenFlags::DIRECTORY),
                ] {
                    if r.chance(pct) {
                        o |= flag;
                    }
                }
                let mut f = DescriptorFlags::empty();
                for (pct, flag) in [
                    (60, DescriptorFlags::READ),
                    (50, DescriptorFlags::WRITE),
                    (10, DescriptorFlags::MUTATE_DIRECTORY),
                ] {
                    if r.chance(pct) {
                        f |= flag;
                    }
                }
                let opened = fds[a].open_at(follow, &p, o, f);
                let text = match &opened {
                    Ok(d) => format!("ok fd={} {}", fds.len(), res(d.get_type(), |t| kind(t).to_owned())),
                    Err(e) => format!("err {}", e.name()),
                };
                if let Ok(d) = opened {
                    if fds.len() >= 8 {
                        fds.remove(1);
                    }
                    fds.push(d);
                }
                format!("open({a},{follow:?},{p},{o:?},{f:?}) {text}")
            }
            5 | 6 => {
                let d = data(&mut r, i);
                let off = r.below(40);
                format!("write({a},{},{off}) {}", d.len(), res(fds[a].write(&d, off), |n| n.to_string()))
            }
            7 => {
                let len = if r.chance(25) { 100_000 } else { r.below(40) };
                let off = r.below(40);
                format!(
                    "read({a},{len},{off}) {}",
                    res(fds[a].read(len, off), |(b, end)| format!("{} {end}", shown(&b)))
                )
            }
            8 => {
                let size = r.below(50);
                format!("set_size({a},{size}) {}", res(fds[a].set_size(size), |()| String::new()))
            }
            9 => {
                let p = path(&mut r);
                format!("unlink({a},{p}) {}", res(fds[a].unlink_file_at(&p), |()| String::new()))
            }
            10 => {
                let p = path(&mut r);
                format!("rmdir({a},{p}) {}", res(fds[a].remove_directory_at(&p), |()| String::new()))
            }
            11 => {
                let (p, q) = (path(&mut r), path(&mut r));
                format!(
                    "rename({a},{p},{b},{q}) {}",
                    res(fds[a].rename_at(&p, &fds[b], &q), |()| String::new())
                )
            }
            12 => {
                let (t, p) = (target(&mut r), path(&mut r));
                format!("symlink({a},{t},{p}) {}", res(fds[a].symlink_at(&t, &p), |()| String::new()))
            }
            13 => {
                let (p, q) = (path(&mut r), path(&mut r));
                format!(
                    "link({a},{follow:?},{p},{b},{q}) {}",
                    res(fds[a].link_at(follow, &p, &fds[b], &q), |()| String::new())
                )
            }
            14 => {
                let p = path(&mut r);
                format!("readlink({a},{p}) {}", res(fds[a].readlink_at(&p), |t| t))
            }
            15 => {
                let p = path(&mut r);
                format!("stat_at({a},{follow:?},{p}) {}", res(fds[a].stat_at(follow, &p), stat_text))
            }
            16 => format!(
                "stat({a}) {} flags={}",
                res(fds[a].stat(), stat_text),
                res(fds[a].get_flags(), |f| format!("{f:?}"))
            ),
            17 => {
                let listing = fds[a].read_directory().map(|s| {
                    let mut names = Vec::new();
                    while let Ok(Some(e)) = s.read_directory_entry() {
                        names.push(format!("{}:{}", e.name, kind(e.type_)));
                    }
                    names.sort();
                    names.join(",")
                });
                format!("readdir({a}) {}", res(listing, |l| l))
            }
            18 if fds.len() > 1 => {
                let k = 1 + r.below(fds.len() as u64 - 1) as usize;
                fds.remove(k);
                format!("close({k})")
            }
            18 | 19 => {
                let d = data(&mut r, i);
                let append = op == 18 || r.chance(50);
                let off = r.below(30);
                let stream = if append { fds[a].append_via_stream() } else { fds[a].write_via_stream(off) };
                let text = match stream {
                    Err(e) => format!("err {}", e.name()),
                    Ok(s) => stream_res(s.blocking_write_and_flush(&d).map(|()| Vec::new())),
                };
                format!("stream_write({a},append={append},{off},{}) {text}", d.len())
            }
            20 => {
                let (off, len) = (r.below(30), if r.chance(10) { 100_000 } else { r.below(40) });
                let text = match fds[a].read_via_stream(off) {
                    Err(e) => format!("err {}", e.name()),
                    Ok(s) => stream_res(s.blocking_read(len)),
                };
                format!("stream_read({a},{off},{len}) {text}")
            }
            _ => {
                let p = path(&mut r);
                let t = NewTimestamp::Timestamp(wasi::clocks::wall_clock::Datetime {
                    seconds: 1_000_000,
                    nanoseconds: 0,
                });
                format!(
                    "set_times_at({a},{follow:?},{p}) {}",
                    res(fds[a].set_times_at(follow, &p, t, NewTimestamp::NoChange), |()| String::new())
                )
            }
        };
        log.push(format!("{i} {line}"));
    }
    log
}

/// `depth` nested directories named `name`, each made and opened from the one above.
pub(crate) fn deep_chain(depth: usize, name: &str) -> Result<(), String> {
    let dirs = wasi::filesystem::preopens::get_directories();
    let mut dir = dirs.into_iter().find(|(_, p)| p == "/").map(|(d, _)| d).expect("a workspace at /");
    for level in 0..depth {
        dir.create_directory_at(name).map_err(|e| format!("mkdir at depth {level}: {}", e.name()))?;
        dir = dir
            .open_at(PathFlags::empty(), name, OpenFlags::DIRECTORY, DescriptorFlags::READ)
            .map_err(|e| format!("open at depth {level}: {}", e.name()))?;
    }
    Ok(())
}
