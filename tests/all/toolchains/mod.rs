//! Guest toolchains: components built from source by the Rust, Python and JavaScript
//! toolchains (`wtb new`'s templates, the polyglot example), then run. What they check does
//! not depend on the database backend, and they are the suite's slowest (minutes of compiling),
//! so the README's PostgreSQL pass skips them (`-- --skip toolchains::`).

mod polyglot;
mod scaffold;
