//! The `wtb` CLI, for the tests' process-level checks (exit codes, one-line errors).

fn main() -> std::process::ExitCode {
    wtb::cli::main()
}
