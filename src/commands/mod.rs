//! The command line's glue: one module per subcommand turns parsed arguments into calls of
//! the library and prints what they return. With `data/`, `bundle/` and `http/` these are
//! the only places that touch files, the terminal or the network.

/// Appends a line to a report (a `String`) that [`print_report`] writes out.
macro_rules! report {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

mod build_index;
mod convert;
mod evaluate;
mod generate;
mod predict;
pub mod progress;
mod serve;
mod split;
mod stats;
mod train;

use crate::cli::Command;
use crate::error::Result;

/// Runs a parsed command.
pub fn execute(command: Command) -> Result<()> {
    match command {
        Command::Generate(args) => generate::run(args),
        Command::Split(args) => split::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::BuildIndex(args) => build_index::run(args),
        Command::Train(args) => train::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Convert(args) => convert::run(args),
    }
}

/// Writes a report to stdout. A closed stdout (`otto-rec stats ... | head -1`) is not an
/// error: the reader has what it wanted.
pub(crate) fn print_report(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(|e| crate::error::Error::io("stdout", e)),
    }
}
