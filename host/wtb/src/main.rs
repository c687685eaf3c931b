//! The `wtb` command. All logic lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    wtb::cli::main()
}
