//! Re-runs `sqlx_macros::migrate!` when a migration is added or changed (the macro alone would not).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
