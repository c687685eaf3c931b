//! What an attempt changed in its workspace, as the WASI layer saw it. Pure.
//!
//! Every way a guest can change its workspace goes through `wasi:filesystem`, which the host
//! implements (`runtime/quota_fs.rs`), so the host can name the paths an attempt created,
//! wrote, truncated, renamed or removed. Capture then looks at those paths only, instead of
//! `lstat`ing the whole workspace — the largest cost of a small node's capture. Whatever the
//! layer cannot name exactly (a path through `..`, a descriptor of unknown origin, a new link)
//! marks *everything*, and capture walks the workspace as before.

use std::collections::BTreeSet;

/// The workspace paths an attempt may have changed, or "everything".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    paths: BTreeSet<String>,
    everything: bool,
}

impl Touched {
    /// Nothing known: capture walks the whole workspace (commands and tests that did not
    /// run through the WASI layer, benchmarks comparing the two).
    pub fn everything() -> Self {
        Self { paths: BTreeSet::new(), everything: true }
    }

    /// Records a change at `path` (workspace-relative, as [`join`] makes it); `None`, or the
    /// workspace root itself, means the change cannot be pinned to a path.
    pub fn mark(&mut self, path: Option<String>) {
        match path {
            Some(p) if !p.is_empty() => {
                if !self.everything {
                    self.paths.insert(p);
                }
            }
            _ => self.mark_everything(),
        }
    }

    /// Gives up naming paths: the whole workspace is examined.
    pub fn mark_everything(&mut self) {
        self.everything = true;
        self.paths.clear();
    }

    /// Whether the whole workspace must be examined.
    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// The touched paths with none under another (a touched directory covers its subtree),
    /// in order.
    pub fn roots(&self) -> Vec<&str> {
        let mut roots: Vec<&str> = Vec::new();
        for p in &self.paths {
            // Only an ancestor can cover `p`; each is looked up (a node writing 10,000 files
            // must not cost 10,000² comparisons).
            let covered = p.match_indices('/').any(|(i, _)| self.paths.contains(&p[..i]));
            if !covered {
                roots.push(p);
            }
        }
        roots
    }
}

/// Whether `path` is `root` or inside it.
pub fn is_under(path: &str, root: &str) -> bool {
    path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `rel` (a guest path relative to the directory at workspace path `base`) as a
/// workspace-relative path, or `None` when it cannot be named lexically: absolute, or through
/// `..` (which a symlinked directory would make mean something else).
pub fn join(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut out = base.to_owned();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            name => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_and_refuses_what_it_cannot_name() {
        assert_eq!(join("", "out/a.txt").as_deref(), Some("out/a.txt"));
        assert_eq!(join("out", "./a//b/").as_deref(), Some("out/a/b"));
        assert_eq!(join("out", ".").as_deref(), Some("out"));
        assert_eq!(join("", ".").as_deref(), Some(""));
        assert_eq!(join("out", "../x"), None);
        assert_eq!(join("", "/etc/passwd"), None);
    }

    #[test]
    fn roots_drop_paths_inside_other_roots_but_not_siblings_with_a_common_prefix() {
        let mut t = Touched::default();
        for p in ["a/x", "a", "a-b", "b/c/d", "b/c", "ab"] {
            t.mark(Some(p.to_owned()));
        }
        assert_eq!(t.roots(), ["a", "a-b", "ab", "b/c"]);
        assert!(!t.is_everything());
    }

    #[test]
    fn the_root_or_an_unnamed_path_means_everything_for_good() {
        let mut t = Touched::default();
        t.mark(Some("a".into()));
        t.mark(Some(String::new()));
        assert!(t.is_everything());
        t.mark(Some("b".into()));
        assert!(t.is_everything() && t.roots().is_empty());
        let mut u = Touched::default();
        u.mark(None);
        assert_eq!(u, Touched::everything());
    }
}
