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

/// Builds the index of the committed fixture world's train.jsonl into `model`, with
/// `flags` added to build-index.
pub fn fixture_index(model: &Path, flags: &[&str]) {
    let mut args = vec![
        "build-index",
        "--input",
        "fixtures/world/train.jsonl",
        "--model-dir",
        s(model),
    ];
    args.extend_from_slice(flags);
    run_ok(&args);
}

/// Flags that keep `train` cheap where a test is not about them: one labelled period, one
/// cut per session, one objective.
pub const CHEAP_TRAIN: &[&str] = &["--folds", "1", "--cuts", "1", "--objective", "binary"];

/// `train` of `input` into `model` with at most `max_trees` trees, [`CHEAP_TRAIN`] and
/// `extra`; returns its report.
pub fn train_cheaply(input: &str, model: &Path, max_trees: &str, extra: &[&str]) -> String {
    let head = [
        "train",
        "--input",
        input,
        "--model-dir",
        s(model),
        "--max-trees",
        max_trees,
    ];
    run_ok(&[&head[..], CHEAP_TRAIN, extra].concat())
}

/// `path` as &str.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A running `otto-rec serve` on a free port; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
}

impl Server {
    /// Starts the server on `model_dir` and waits until it listens.
    pub fn start(model_dir: &Path) -> Server {
        Self::start_with_env(model_dir, &[])
    }

    /// Starts the server with extra environment variables.
    pub fn start_with_env(model_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(model_dir, env, &[])
    }

    /// Starts the server with extra environment variables and flags.
    pub fn start_with(model_dir: &Path, env: &[(&str, &str)], flags: &[&str]) -> Server {
        use std::io::BufRead;
        let mut child = otto_rec()
            .envs(env.iter().copied())
            .args([
                "serve",
                "--model-dir",
                s(model_dir),
                "--port",
                "0",
                "--workers",
                "2",
            ])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("serve prints its address");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// Sends one request and returns the status and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let (status, _, body) = self.exchange(method, path, &[], body);
        (status, body)
    }

    /// Sends one request with extra header lines; returns the status, the response head
    /// (lower-cased) and the body.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &[u8],
    ) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("connect");
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send head");
        // A server may answer (e.g. 413) before reading the whole body.
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read response");
        let text = String::from_utf8_lossy(&response).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (status, head.to_lowercase(), body.to_string())
    }

    /// POSTs JSON to /predict and parses the answer.
    pub fn predict(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let (status, text) = self.request("POST", "/predict", body.to_string().as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    /// The process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
