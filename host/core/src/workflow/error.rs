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

impl ManifestError {
    /// An error at byte `offset` of `text`, the file `file`; an empty `field` names none.
    pub fn at_offset(file: &str, text: &str, offset: usize, field: &str, message: String) -> Self {
        Self {
            file: file.to_owned(),
            at: Position::of_offset(text, offset),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message,
        }
    }

    /// `text` read as TOML into `T`: a syntax error, an unknown field or a value of the wrong
    /// type is located by line and column.
    pub fn from_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, Self> {
        toml::from_str(text).map_err(|e| {
            Self::at_offset(
                file,
                text,
                e.span().map_or(0, |s| s.start),
                "",
                e.message().trim_end().to_owned(),
            )
        })
    }
}
