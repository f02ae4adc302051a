//! Progress of long work, as the library reports it: kernels call a [`Progress`] they are
//! given and never draw anything themselves. The command line passes one that draws bars
//! on a terminal (`commands::progress`); tests and the server pass [`Silent`].

/// What a unit of work is, so a display can format counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Items,
    Bytes,
}

/// A sink for progress reports. Implementations must be cheap to call from many threads.
pub trait Progress: Sync {
    /// A stage of `total` units begins (ending the previous one).
    fn stage(&self, name: &str, total: u64, unit: Unit);
    /// The current stage turned out to hold `total` units.
    fn set_total(&self, _total: u64) {}
    /// `n` more units of the current stage are done.
    fn advance(&self, n: u64);
    /// A short status line for the current stage (e.g. the last validation metric).
    fn status(&self, _text: &str) {}
    /// The current stage is complete.
    fn finish(&self) {}
}

/// Reports nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _: &str, _: u64, _: Unit) {}
    fn advance(&self, _: u64) {}
}
