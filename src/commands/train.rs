//! `train`: fits the rankers on a local split of the input (the library's training stage)
//! and adds them to the bundle, building the bundle's index first when it has none.

use crate::bundle::{self, Manifest, OldRankers};
use crate::candidates::CandidateConfig;
use crate::cli::TrainArgs;
use crate::commands::print_report;
use crate::commands::progress::Bars;
use crate::data::read_all_events;
use crate::domain::EventType;
use crate::error::{Error, Result};
use crate::index::IndexParams;
use crate::ranker::EarlyExit;
use crate::training::{
    BoosterParams, MIN_POSITIVES, Objective, ObjectiveChoice, TargetReport, TrainConfig, train,
};

impl TrainArgs {
    /// The training configuration these flags ask for, checked.
    pub fn config(&self) -> Result<TrainConfig> {
        let objective = match self.objective.as_str() {
            "binary" => ObjectiveChoice::Only(Objective::Binary),
            "lambdarank" => ObjectiveChoice::Only(Objective::Lambdarank),
            "best" => ObjectiveChoice::Best,
            other => {
                return Err(Error::argument(
                    "--objective",
                    format!("{other:?} is not one of binary, lambdarank, best"),
                ));
            }
        };
        if self.knn > 0 && (self.knn_query == 0 || self.knn_sample == 0 || self.knn_neighbours == 0)
        {
            return Err(Error::argument(
                "--knn-query/--knn-sample/--knn-neighbours",
                "must be at least 1 (or --knn 0 to leave similar sessions out)",
            ));
        }
        if !(self.knn_idf >= 0.0 && self.knn_idf <= 100.0) {
            return Err(Error::argument("--knn-idf", "must be between 0 and 100"));
        }
        if self.candidates_per_table == 0 || self.neighbour_history == 0 {
            return Err(Error::argument(
                "--candidates-per-table/--neighbour-history",
                "must be at least 1",
            ));
        }
        TrainConfig {
            candidates: CandidateConfig {
                per_table: self.candidates_per_table,
                history_for_neighbours: self.neighbour_history,
                similar_history: self.similar_history,
                knn: self.knn,
                knn_query: self.knn_query,
                knn_sample: self.knn_sample,
                knn_neighbours: self.knn_neighbours,
                knn_idf: self.knn_idf,
                ..CandidateConfig::default()
            },
            objective,
            folds: auto_or_number("--folds", &self.folds)?,
            cuts: auto_or_number("--cuts", &self.cuts)?,
            negative_rate: self.negative_rate,
            max_validation_sessions: self.max_validation_sessions,
            early_exit: (self.early_exit_trees > 0).then_some(EarlyExit {
                trees: self.early_exit_trees,
                keep: self.early_exit_keep,
            }),
            days: auto_or_number("--days", &self.days)?,
            seed: self.seed,
            booster: BoosterParams {
                learning_rate: self.learning_rate,
                num_leaves: self.num_leaves,
                max_depth: self.max_depth,
                max_trees: self.max_trees,
                seed: self.seed,
                ..BoosterParams::default()
            },
        }
        .validate()
        .map_err(|e| Error::argument(flag_of(e.name), e.problem))
    }
}

/// A flag's value, `auto` (`None`) or a number.
fn auto_or_number(flag: &'static str, value: &str) -> Result<Option<u32>> {
    match value {
        "auto" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| Error::argument(flag, format!("{n:?} is not auto or a number"))),
    }
}

/// The flag that sets a configuration value.
fn flag_of(name: &str) -> &'static str {
    match name {
        "days" => "--days",
        "max_trees" => "--max-trees",
        "num_leaves" => "--num-leaves",
        "learning_rate" => "--learning-rate",
        "max_depth" => "--max-depth",
        "folds" => "--folds",
        "negative_rate" => "--negative-rate",
        "cuts" => "--cuts",
        "max_validation_sessions" => "--max-validation-sessions",
        "early_exit" => "--early-exit-keep",
        _ => "(training configuration)",
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    // Before the input is read: a build without training should not read gigabytes first.
    crate::training::check_available()?;
    let config = args.config()?;
    let bars = Bars::default();
    let mut log = read_all_events(std::slice::from_ref(&args.input), &bars)?;
    let dir = &args.model_dir;

    // The bundle's serving index is kept; only a directory without a manifest gets one
    // built from the whole input. Any other problem with the bundle is an error.
    let params = match Manifest::read(dir) {
        Ok((manifest, _)) => {
            // The rankers are written beside the bundle's files once training is done:
            // a missing or changed file is reported now, not after the training.
            manifest.verify_files(dir)?;
            eprintln!(
                "keeping the index in {} (built from {:?})",
                dir.display(),
                manifest.input.files
            );
            manifest.parameters
        }
        Err(e) if e.code() == "manifest_missing" => {
            eprintln!(
                "{} has no index: building one from {}",
                dir.display(),
                args.input.display()
            );
            let params = IndexParams::auto(log.num_events());
            bundle::build(
                dir,
                &mut log,
                &params,
                std::slice::from_ref(&args.input),
                OldRankers::Keep,
                &bars,
            )?;
            params
        }
        Err(e) => return Err(e),
    };
    let trained = train(
        log,
        &args.input.display().to_string(),
        &params,
        &config,
        &bars,
    )?;
    bundle::add_rankers(dir, &trained)?;

    let report = &trained.report;
    let mut out = String::new();
    report!(out, "held-out sessions: {}", report.sessions.holdout);
    report!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>8}",
        "",
        "clicks",
        "carts",
        "orders",
        "total"
    );
    for (name, r) in [
        ("candidates", report.candidate_recall),
        ("heuristic", report.holdout_recall.heuristic),
        ("ranker", report.holdout_recall.ranker),
    ] {
        report!(
            out,
            "{name:<12} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            r.clicks,
            r.carts,
            r.orders,
            r.total
        );
    }
    if let Some(targets) = &report.targets {
        // A target left to the heuristic shows `-`.
        let row = |name: &str, cell: &dyn Fn(&TargetReport) -> String| {
            let cells = EventType::ALL.map(|o| targets.get(o).as_ref().map_or("-".into(), cell));
            format!(
                "{name:<12} {:>12} {:>12} {:>12}",
                cells[0], cells[1], cells[2]
            )
        };
        report!(out, "{}", row("objective", &|t| t.objective.clone()));
        report!(out, "{}", row("trees", &|t| t.trees.to_string()));
        report!(
            out,
            "{}",
            row("fit time", &|t| format!("{:.1}s", t.seconds))
        );
    }
    for u in &report.unfitted {
        report!(
            out,
            "{}: {} labelled examples ({} for validation), fewer than {MIN_POSITIVES}: no ranker, the heuristic ranks {}",
            u.objective,
            u.train_positives,
            u.validation_positives,
            u.objective
        );
    }
    report!(
        out,
        "candidates per session: {:.1}",
        report.candidates_per_session
    );
    print_report(&out)?;
    eprintln!(
        "wrote rankers ({} / {} / {} trees) into {} in {:.1} s",
        report.trees.clicks,
        report.trees.carts,
        report.trees.orders,
        dir.display(),
        report.seconds
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};
    use crate::training::TrainConfig;

    /// `train` without flags trains as the library's default configuration: the help's
    /// defaults and the behaviour cannot drift apart.
    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let cli =
            Cli::try_parse_from(["otto-rec", "train", "--input", "x", "--model-dir", "m"]).unwrap();
        let Command::Train(args) = cli.command else {
            panic!("not train")
        };
        assert_eq!(args.config().unwrap(), TrainConfig::default());
    }
}
