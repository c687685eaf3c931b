//! Manifest errors that point at the file, line, column and field.

/// A 1-based line and column in a manifest file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Position {
    /// The position of byte offset `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self { line, column }
    }
}

/// A manifest that cannot run, and exactly where it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}:{}: {}{message}", .at.line, .at.column, .field.as_ref().map(|f| format!("`{f}`: ")).unwrap_or_default())]
pub struct ManifestError {
    /// The manifest file as the user named it.
    pub file: String,
    /// Where in it.
    pub at: Position,
    /// The offending field, e.g. `nodes[2].component`, when known.
    pub field: Option<String>,
    /// What is wrong, in a sentence.
    pub message: String,
}
