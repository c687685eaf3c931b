//! What runs: the workflow manifest, its graph, validation, routing and the state merge.
//! Pure: no I/O.
//!
//! Reading the file and resolving components happens in [`wtb_engine::executor::load`]; this module
//! only turns text into a validated [`Manifest`] or an error that names file, line and field.

mod definition;
mod error;
mod graph;
mod manifest;
mod overrides;
mod reduce;
mod retry;
mod sandbox;
mod schema;
mod state;
mod update;

pub use definition::{Definition, StoredEdge, StoredNode};
pub use error::{ManifestError, Position};
pub use graph::{Edge, Graph, GraphProblem, RouteError, Site};
pub use manifest::{DEFAULT_MAX_STEPS, Manifest, NodeSpec};
pub use overrides::Overrides;
pub use reduce::{ReduceError, Reducer, Reducers, merge_branches};
pub use retry::RetryPolicy;
pub use sandbox::{CeilingProblem, Fixture, LimitProblem, Network, NodeLimits, check_env, check_mount_point};
pub use schema::{Schema, SchemaSource, SchemaSpec, SchemaViolation};
pub use state::{UpdateError, merge_update, parse_update};
pub use update::{PlannedUpdate, Undo, apply_update, plan_update};
