//! A plain `wasi:cli` command used as a workflow node: reads the state (JSON) on stdin, writes
//! a file, prints its update (a JSON object) on stdout. State `{"fail": n}` exits with status n;
//! `{"quiet": true}` prints nothing (no update).
use std::io::Read as _;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("reading stdin");
    let state: serde_json::Value = serde_json::from_str(&input).expect("state is JSON");
    if let Some(code) = state.get("fail").and_then(serde_json::Value::as_i64) {
        eprintln!("asked to fail with {code}");
        std::process::exit(code as i32);
    }
    let n = state.get("n").and_then(serde_json::Value::as_i64).unwrap_or(0);
    std::fs::write("from-command.txt", format!("n was {n}\n")).expect("writing a file");
    if state.get("quiet").and_then(serde_json::Value::as_bool) != Some(true) {
        println!("{}", serde_json::json!({ "n": n + 1, "by": std::env::args().next() }));
    }
}
