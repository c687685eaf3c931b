//! WTB's storage: the seams the engine runs against (the database per aggregate, the
//! content-addressed blob store, lane workspaces) with their embedded implementations (SQLite
//! with its group-commit writer, a local blob directory, a directory per lane), and workspace
//! capture and restore.
//!
//! Everything that reads or writes durable state lives here; the engine above asks for it by
//! aggregate and never writes SQL of its own.
#![deny(missing_docs)]

pub mod capture;
pub mod cas;
pub mod db;
