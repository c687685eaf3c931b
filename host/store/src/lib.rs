//! WTB's storage: the database (pool, migrations, one module per aggregate, the group-commit
//! writer), the content-addressed blob store, and workspace capture and restore.
//!
//! Everything that reads or writes durable state lives here; the engine above asks for it by
//! aggregate and never writes SQL of its own.
#![deny(missing_docs)]

pub mod capture;
pub mod cas;
pub mod db;
