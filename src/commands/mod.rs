//! One module per subcommand: the glue from parsed arguments to the library, and the only
//! place (with `http/`) that reads and writes files.

mod build_index;
mod convert;
mod evaluate;
mod generate;
mod predict;
mod serve;
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
        Command::Predict(args) => predict::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Convert(args) => convert::run(args),
    }
}

/// Loads a model directory into a [`Recommender`](crate::pipeline::Recommender), checking
/// its manifest.
pub fn load_recommender(dir: &std::path::Path) -> Result<crate::pipeline::Recommender> {
    let (_manifest, index) = crate::index::store::load(dir)?;
    Ok(crate::pipeline::Recommender::new(index))
}
