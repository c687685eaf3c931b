//! What can go wrong with an experiment, apart from a cell's own failure (which the report
//! shows): a file that does not load, a start that cannot be used, the host failing.

use crate::executor::{ExecError, LoadError};
use crate::travel::TravelError;
use wtb_core::model::{ExperimentId, IdParseError};

/// Why an experiment could not be loaded, created, run or reported.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The experiment file, its workflow or a variant's component is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No experiment with this id (for this tenant).
    #[error("no experiment {0} (see `wtb experiment list`)")]
    Unknown(ExperimentId),
    /// The file's `from` is not a checkpoint id.
    #[error("experiment `from` = `{value}`: {reason}")]
    BadFrom {
        /// The value given.
        value: String,
        /// Why it is not an id.
        reason: IdParseError,
    },
    /// An environment's fixture cannot be mounted (gone since the experiment was loaded).
    #[error("environment `{environment}`: {problem}")]
    BadFixture {
        /// The environment.
        environment: String,
        /// What is wrong with the fixture.
        problem: String,
    },
    /// Forking a cell from the experiment's checkpoint was refused.
    #[error(transparent)]
    Fork(#[from] TravelError),
    /// The host failed (database, workspace, a cell's execution could not be driven).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl From<wtb_store::db::DbError> for ExperimentError {
    fn from(e: wtb_store::db::DbError) -> Self {
        Self::Exec(e.into())
    }
}

impl From<wtb_core::workflow::ManifestError> for ExperimentError {
    fn from(e: wtb_core::workflow::ManifestError) -> Self {
        Self::Load(e.into())
    }
}
