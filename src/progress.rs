//! Progress bars for long steps: drawn on stderr when it is a terminal, silent otherwise.

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn target() -> ProgressDrawTarget {
    // indicatif hides the bar itself when stderr is not a terminal.
    ProgressDrawTarget::stderr()
}

/// A bar over the bytes of `path` (its size on disk), e.g. for parsing a JSONL file.
pub fn bytes(path: &Path, message: &str) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(len), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:40.cyan/blue} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid progress template"),
    );
    bar.set_message(format!("{message} {}", path.display()));
    bar
}

/// A bar over `len` items of work named by `message`.
pub fn items(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:40.cyan/blue} {human_pos}/{human_len} ({per_sec}, {eta})",
        )
        .expect("valid progress template"),
    );
    bar.set_message(message.to_string());
    bar
}
