//! How two checkpoints differ: the state as an RFC 6902 JSON patch (and a line per change for
//! people), the files as added / removed / modified with sizes and digests, and a unified diff
//! for text files up to [`TEXT_DIFF_MAX_BYTES`].

use crate::model::{ChangeKind, Digest, EntryKind, FileEntry};
use serde::Serialize;
use serde_json::Value;

/// Files larger than this (on either side) are compared by size and digest only.
pub const TEXT_DIFF_MAX_BYTES: u64 = 1 << 20;

/// The state change between two checkpoints.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StateDiff {
    /// RFC 6902 operations turning the first state into the second.
    #[schema(value_type = Vec<PatchOperation>)]
    pub patch: json_patch::Patch,
    /// One line per operation: `+ /path: value`, `- /path`, `~ /path: old → new`.
    pub lines: Vec<String>,
}

/// One RFC 6902 operation as the API document describes it (`json_patch` has no schema for
/// the utoipa we use); never built, only its schema is.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "only its schema is used")]
struct PatchOperation {
    /// What it does.
    #[schema(pattern = "^(add|remove|replace|move|copy|test)$")]
    op: String,
    /// The JSON pointer it acts on.
    path: String,
    /// For `move` and `copy`: where the value comes from.
    #[schema(nullable = false)]
    from: Option<String>,
    /// For `add`, `replace` and `test`: the value.
    #[schema(nullable = false)]
    value: Option<Value>,
}

impl StateDiff {
    /// The difference from `a` to `b`.
    pub fn between(a: &Value, b: &Value) -> Self {
        let patch = json_patch::diff(a, b);
        let lines = patch
            .0
            .iter()
            .map(|op| {
                use json_patch::PatchOperation as Op;
                match op {
                    Op::Add(o) => format!("+ {}: {}", o.path, o.value),
                    Op::Remove(o) => format!("- {}", o.path),
                    Op::Replace(o) => {
                        let old = a.pointer(o.path.as_str()).map_or_else(|| "?".to_owned(), Value::to_string);
                        format!("~ {}: {old} → {}", o.path, o.value)
                    }
                    Op::Move(o) => format!("> {} → {}", o.from, o.path),
                    Op::Copy(o) => format!("= {} → {}", o.from, o.path),
                    Op::Test(o) => format!("? {}: {}", o.path, o.value),
                }
            })
            .collect();
        Self { patch, lines }
    }
}

/// One side of a changed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FileSide {
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Content digest (files, symlinks).
    pub digest: Option<Digest>,
}

impl From<&FileEntry> for FileSide {
    fn from(e: &FileEntry) -> Self {
        Self { kind: e.kind, size: e.size, digest: e.digest }
    }
}

/// How a changed file's content differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TextChange {
    /// Both sides are UTF-8 text within the size limit: a unified diff.
    Text {
        /// The unified diff (`---`/`+++` headers, `@@` hunks).
        unified: String,
    },
    /// Binary or too large: sizes only.
    Binary {
        /// Bytes before (0 when added).
        before: u64,
        /// Bytes after (0 when removed).
        after: u64,
    },
}

/// One changed path between two checkpoints.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FileDiff {
    /// Workspace-relative path.
    pub path: String,
    /// Added, modified or deleted.
    pub change: ChangeKind,
    /// The first checkpoint's entry, if it had one.
    pub before: Option<FileSide>,
    /// The second checkpoint's entry, if it has one.
    pub after: Option<FileSide>,
    /// The content difference, for regular files.
    pub content: Option<TextChange>,
}

/// One side's content as fetched for a content diff.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// The path does not exist on this side.
    Absent,
    /// The bytes (regular files up to [`TEXT_DIFF_MAX_BYTES`]).
    Bytes(&'a [u8]),
    /// Not fetched: larger than the limit; its size.
    TooLarge(u64),
}

impl Content<'_> {
    fn size(&self) -> u64 {
        match self {
            Self::Absent => 0,
            Self::Bytes(b) => b.len() as u64,
            Self::TooLarge(n) => *n,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Self::Absent => Some(""),
            Self::Bytes(b) if !b.contains(&0) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// The content difference of `path`: a unified diff when both sides are UTF-8 text (no NUL
/// bytes) within the limit, else the sizes.
pub fn content_change(path: &str, before: Content<'_>, after: Content<'_>) -> TextChange {
    match (before.text(), after.text()) {
        (Some(a), Some(b)) => {
            let diff = similar::TextDiff::from_lines(a, b);
            let unified = diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string();
            TextChange::Text { unified }
        }
        _ => TextChange::Binary { before: before.size(), after: after.size() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_changes_are_a_json_patch_and_readable_lines() {
        let d = StateDiff::between(
            &json!({ "n": 1, "gone": true, "keep": "x" }),
            &json!({ "n": 2, "keep": "x", "new": [1] }),
        );
        let ops = serde_json::to_value(&d.patch).unwrap();
        assert_eq!(ops.as_array().unwrap().len(), 3, "{ops}");
        assert!(d.lines.contains(&"~ /n: 1 → 2".to_owned()), "{:?}", d.lines);
        assert!(
            d.lines.contains(&"- /gone".to_owned()) && d.lines.contains(&"+ /new: [1]".to_owned()),
            "{:?}",
            d.lines
        );
        assert!(StateDiff::between(&json!({ "a": 1 }), &json!({ "a": 1 })).lines.is_empty());
    }

    #[test]
    fn text_gets_a_unified_diff_and_binary_gets_sizes() {
        let TextChange::Text { unified } =
            content_change("r.txt", Content::Bytes(b"a\nb\n"), Content::Bytes(b"a\nc\n"))
        else {
            panic!("text")
        };
        assert!(
            unified.contains("--- a/r.txt") && unified.contains("-b\n") && unified.contains("+c\n"),
            "{unified}"
        );
        let TextChange::Text { unified } =
            content_change("new.txt", Content::Absent, Content::Bytes(b"hi\n"))
        else {
            panic!("added text")
        };
        assert!(unified.contains("+hi"), "{unified}");
        assert_eq!(
            content_change("x.bin", Content::Bytes(&[0, 1, 2]), Content::Bytes(&[0, 1])),
            TextChange::Binary { before: 3, after: 2 }
        );
        assert_eq!(
            content_change("big", Content::TooLarge(5 << 20), Content::Absent),
            TextChange::Binary { before: 5 << 20, after: 0 }
        );
    }
}
