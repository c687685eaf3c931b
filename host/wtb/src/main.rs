//! The `wtb` command. All logic lives in the library's `cli` module.

/// mimalloc instead of glibc's allocator: the attempts build and free many small values per
/// node on every tokio worker, where glibc's arenas cost ~15 % of the CPU (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wtb::cli::main()
}
