//! The `homeward` binary run to its end, and what it printed.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// A command for the `homeward` binary this test target was built with.
pub fn homeward() -> Command {
    Command::new(env!("CARGO_BIN_EXE_homeward"))
}

/// Runs `homeward ARGS` to its end.
pub fn run(args: &[&str]) -> Output {
    homeward().args(args).output().expect("homeward runs")
}

/// Output as text, any bytes that are not UTF-8 replaced.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `homeward ARGS` succeeded; its stdout.
pub fn succeeded(out: &Output, args: &[&str]) -> String {
    let stdout = lossy(&out.stdout);
    assert!(
        out.status.success(),
        "homeward {args:?} failed: {}\n{stdout}",
        lossy(&out.stderr)
    );
    stdout
}

/// Each line of `stdout` as JSON.
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The last line of `stdout` as JSON (`null` when there is none).
pub fn last_json(stdout: &str) -> Value {
    let last = stdout.lines().last().unwrap_or("null");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

/// `homeward ARGS --db DB --create --json` (the registry is made on first
/// use), which must succeed.
pub fn on_registry(db: &Path, args: &[&str]) -> Output {
    let out = homeward()
        .args(args)
        .arg("--db")
        .arg(db)
        .arg("--create")
        .arg("--json")
        .output()
        .expect("homeward runs");
    succeeded(&out, args);
    out
}

/// [`on_registry`]'s last line of output as JSON.
pub fn json_on(db: &Path, args: &[&str]) -> Value {
    last_json(&lossy(&on_registry(db, args).stdout))
}

/// [`on_registry`]'s lines of output as JSON.
pub fn lines_on(db: &Path, args: &[&str]) -> Vec<Value> {
    json_lines(&lossy(&on_registry(db, args).stdout))
}

/// A finished run's exit code (-1 when a signal ended it), stdout and
/// stderr.
pub fn outcome(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        lossy(&out.stdout),
        lossy(&out.stderr),
    )
}

/// Runs `homeward ARGS`, which must succeed; its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "homeward {args:?} failed: {}{}",
        lossy(&out.stderr),
        lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}
