//! One module per subcommand: the glue from parsed arguments to the library, and the only
//! place (with `http/`) that reads and writes files.

/// Appends a line to a report (a `String`) that [`print_report`] writes out.
macro_rules! report {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

pub(crate) mod build_index;
mod convert;
mod evaluate;
mod generate;
mod predict;
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

/// Loads a model directory into a [`Recommender`](crate::pipeline::Recommender), checking
/// its manifest: the index, and the rankers when the manifest lists them.
pub fn load_recommender(dir: &std::path::Path) -> Result<crate::pipeline::Recommender> {
    use crate::data::EventType;
    use crate::error::Error;
    use crate::pipeline::Recommender;
    use crate::ranker::{Rankers, TreeModel, model_file};

    let (manifest, index) = crate::index::store::load(dir)?;
    let files = EventType::ALL.map(model_file);
    let present = files
        .iter()
        .filter(|f| manifest.files.contains_key(*f))
        .count();
    if present == 0 {
        return Ok(Recommender::new(index));
    }
    let artifact = |message: String| Error::Artifact {
        dir: dir.to_path_buf(),
        message,
    };
    if present < files.len() {
        return Err(artifact(
            "manifest.json lists some rankers but not all three: retrain".into(),
        ));
    }
    let mut models = Vec::with_capacity(3);
    for name in &files {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let model =
            TreeModel::parse(&text).map_err(|e| artifact(format!("{}: {e}", path.display())))?;
        model
            .check_features()
            .map_err(|e| artifact(format!("{}: {e}", path.display())))?;
        models.push(model);
    }
    let config = manifest
        .training
        .as_ref()
        .and_then(|t| t.get("candidates"))
        .map(|c| serde_json::from_value(c.clone()))
        .transpose()
        .map_err(|e| artifact(format!("manifest.json: bad candidate settings: {e}")))?
        .unwrap_or_default();
    let models: [TreeModel; 3] = models.try_into().expect("three models");
    Ok(Recommender::with_rankers(index, Rankers { models }, config))
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
