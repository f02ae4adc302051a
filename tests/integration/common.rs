//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn otto_rec() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_otto-rec"));
    cmd.env("OTTO_LOG", "warn");
    cmd
}

/// Runs the binary with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    otto_rec().args(args).output().expect("otto-rec runs")
}

/// Runs the binary and asserts success, returning stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "otto-rec {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `path` as &str.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
