//! Progress bars on the terminal: the command line's [`Progress`] sink. A bar is drawn on
//! stderr when it is a terminal and stays silent otherwise; each finished stage is logged
//! with its duration (`OTTO_LOG=warn` hides it).

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Progress, Unit};

/// Draws one bar per stage of the library's work.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<Stage>>,
}

struct Stage {
    bar: ProgressBar,
    name: String,
    started: Instant,
}

impl Stage {
    fn end(self) {
        self.bar.finish_and_clear();
        log::info!(
            "{}: {} in {:.1} s",
            self.name,
            self.bar.position(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl Bars {
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(stage) = self.current.lock().expect("progress lock").as_ref() {
            f(&stage.bar);
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64, unit: Unit) {
        // indicatif hides the bar itself when stderr is not a terminal.
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = match unit {
            Unit::Bytes => {
                "{msg} {bar:40.cyan/blue} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {prefix}"
            }
            Unit::Items => {
                "{msg} {bar:40.cyan/blue} {human_pos}/{human_len} ({per_sec}, {eta}) {prefix}"
            }
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
        bar.set_message(name.to_string());
        let stage = Stage {
            bar,
            name: name.to_string(),
            started: Instant::now(),
        };
        if let Some(old) = self.current.lock().expect("progress lock").replace(stage) {
            old.end();
        }
    }

    fn set_total(&self, total: u64) {
        self.with_bar(|bar| bar.set_length(total));
    }

    fn advance(&self, n: u64) {
        self.with_bar(|bar| bar.inc(n));
    }

    fn status(&self, text: &str) {
        self.with_bar(|bar| bar.set_prefix(text.to_string()));
    }

    fn finish(&self) {
        if let Some(stage) = self.current.lock().expect("progress lock").take() {
            stage.end();
        }
    }
}
