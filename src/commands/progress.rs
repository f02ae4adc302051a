//! Progress bars on the terminal: the command line's [`Progress`] sink. A bar is drawn on
//! stderr when it is a terminal and stays silent otherwise.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Progress, Unit};

/// Draws one bar per stage of the library's work.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.current.lock().expect("progress lock").as_ref() {
            f(bar);
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
        if let Some(old) = self.current.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
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
        if let Some(bar) = self.current.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
