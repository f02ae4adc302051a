//! One module per subcommand: the glue from parsed arguments to the library, and the only
//! place (with `http/`) that reads and writes files.

mod build_index;
mod convert;
mod evaluate;
mod generate;
mod split;

use crate::cli::Command;
use crate::error::Result;

/// Runs a parsed command.
pub fn execute(command: Command) -> Result<()> {
    match command {
        Command::Generate(args) => generate::run(args),
        Command::Split(args) => split::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::BuildIndex(args) => build_index::run(args),
        Command::Convert(args) => convert::run(args),
    }
}
