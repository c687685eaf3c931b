//! Re-runs `sqlx_macros::migrate!` when a migration is added or changed (the macro alone would
//! not), for both backends.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
