//! `wtb test`: test files loaded (all of them, before any case runs), cases run at most
//! `--parallel` at once, results printed, as JSON, or as JUnit XML.

use super::args_test::TestArgs;
use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use wtb_core::testing::report::{FileResult, junit_xml};
use wtb_engine::executor::Executor;

/// Runs the test files under `args.paths`; exit status 1 when any case fails.
pub async fn test(exec: &Executor, args: &TestArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut loaded = Vec::new();
    let stub: Arc<[u8]> = crate::demo::STUB.into();
    for file in test_files(&args.paths)? {
        loaded.push(exec.load_tests(&file, args.update, &stub).await?);
    }
    let jobs = loaded
        .iter()
        .enumerate()
        .flat_map(|(f, l)| l.cases.iter().map(move |case| (f, l.dir.as_path(), case)));
    let update = args.update;
    let mut ran: Vec<_> = futures_util::stream::iter(jobs.enumerate())
        .map(|(order, (f, dir, case))| async move { (order, f, exec.run_case(case, dir, update).await) })
        .buffer_unordered(usize::from(args.parallel))
        .collect()
        .await;
    ran.sort_by_key(|(order, _, _)| *order);
    let mut files: Vec<FileResult> =
        loaded.iter().map(|l| FileResult { file: l.file.clone(), cases: Vec::new() }).collect();
    for (_, f, result) in ran {
        files[f].cases.push(result);
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit_xml(&files)).with_context(|| format!("--junit {}", path.display()))?;
    }
    let (cases, failed) =
        files.iter().flat_map(|f| &f.cases).fold((0, 0), |(n, k), c| (n + 1, k + usize::from(!c.passed)));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "files": files, "cases": cases, "failed": failed })
            )?
        );
    } else {
        for f in &files {
            println!("{}", f.file);
            for c in &f.cases {
                let id = c.execution.map(|e| format!("execution {e}, ")).unwrap_or_default();
                println!(
                    "  {:<4}  {} ({id}{:.0} ms)",
                    if c.passed { "ok" } else { "FAIL" },
                    c.name,
                    c.seconds * 1e3
                );
                for line in c.failures.iter().flat_map(|f| f.lines()) {
                    println!("        {line}");
                }
            }
        }
        println!("{cases} cases: {} passed, {failed} failed", cases - failed);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The files `paths` name: each file as given, each directory's `*.test.toml` in name order.
fn test_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("reading {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && is_test_file(f))
            .collect();
        if found.is_empty() {
            bail!("{}: no *.test.toml files in this directory", p.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn is_test_file(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.toml"))
}
