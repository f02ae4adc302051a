use std::io::Write;

use crate::candidates::CandidateConfig;
use crate::cli::TrainArgs;
use crate::commands::build_index::build_and_save;
use crate::commands::print_report;
use crate::data::atomic::write_atomic;
use crate::data::split::{SplitConfig, split};
use crate::data::{EventType, read_all_events};
use crate::error::{Error, Result};
use crate::features::FEATURE_NAMES;
use crate::index::store::{checksum, read_manifest, write_manifest};
use crate::index::{self, IndexParams};
use crate::pipeline::{Recommender, Strategy};
use crate::progress;
use crate::ranker::training::{TrainParams, fit_binary};
use crate::ranker::{Rankers, TreeModel, model_file};
use crate::training::{self, assign_parts, candidate_recall, holdout_recall};

pub fn run(args: TrainArgs) -> Result<()> {
    if args.days == 0 {
        return Err(Error::InvalidArgument("--days must be at least 1".into()));
    }
    if args.max_trees == 0
        || args.num_leaves < 2
        || !(args.learning_rate > 0.0 && args.learning_rate <= 1.0)
    {
        return Err(Error::InvalidArgument(
            "--max-trees must be ≥ 1, --num-leaves ≥ 2 and --learning-rate in (0, 1]".into(),
        ));
    }
    let started = std::time::Instant::now();
    let log = read_all_events(std::slice::from_ref(&args.input))?;
    let dir = &args.model_dir;

    // The directory's serving index: kept when present, else built from the whole input.
    let params = match read_manifest(dir) {
        Ok(manifest) => {
            eprintln!(
                "keeping the index in {} (built from {:?})",
                dir.display(),
                manifest.input.files
            );
            manifest.parameters
        }
        Err(_) => {
            eprintln!(
                "{} has no index: building one from {}",
                dir.display(),
                args.input.display()
            );
            let params = IndexParams::default();
            build_and_save(&log, &params, dir, std::slice::from_ref(&args.input))?;
            params
        }
    };

    let split = split(
        &log,
        SplitConfig {
            days: args.days,
            seed: args.seed,
        },
    );
    if split.test.len() < 50 {
        return Err(Error::invalid_input(
            &args.input,
            format!(
                "the last {} days hold only {} usable sessions: too few to train on",
                args.days,
                split.test.len()
            ),
        ));
    }
    eprintln!(
        "split: {} sessions before the last {} days index the candidates; {} labelled sessions train the rankers",
        split.train.len(),
        args.days,
        split.test.len()
    );
    let index = index::build(&split.train, &params, &|message, len| {
        progress::items(len, message)
    });
    let config = CandidateConfig::default();
    let bar = progress::items(split.test.len() as u64, "candidates and features");
    let set = training::build(&index, &split.test, &split.labels, &config, &bar);
    bar.finish_and_clear();
    let parts = assign_parts(split.test.len(), args.seed);
    let all: Vec<usize> = (0..split.test.len()).collect();
    let candidates = candidate_recall(&set, &split.labels, &all);
    eprintln!(
        "{} candidates per session on average; candidate recall: {candidates}",
        set.rows.len() / FEATURE_NAMES.len() / set.sessions().max(1)
    );

    let train_params = TrainParams {
        learning_rate: args.learning_rate,
        num_leaves: args.num_leaves,
        max_depth: args.max_depth,
        max_trees: args.max_trees,
        seed: args.seed,
        ..Default::default()
    };
    let mut texts = Vec::new();
    let mut models = Vec::new();
    for objective in EventType::ALL {
        let train = set.select(&parts[0], objective, true);
        let valid = set.select(&parts[1], objective, true);
        let positives = |labels: &[f32]| labels.iter().filter(|&&l| l > 0.0).count();
        if positives(&train.1) == 0 || positives(&valid.1) == 0 {
            return Err(Error::invalid_input(
                &args.input,
                format!(
                    "no {} among the candidates of the training sessions: too little data",
                    objective.name()
                ),
            ));
        }
        eprintln!(
            "training the {} ranker: {} rows ({} positive), validation {} rows",
            objective.name(),
            train.1.len(),
            positives(&train.1),
            valid.1.len()
        );
        let text = fit_binary((&train.0, &train.1), (&valid.0, &valid.1), &train_params)
            .map_err(|e| Error::Lightgbm(e.0))?;
        let model = TreeModel::parse(&text)
            .map_err(|e| Error::Lightgbm(format!("reading back the trained model: {e}")))?;
        models.push(model);
        texts.push(text);
    }
    let trees: Vec<usize> = models.iter().map(TreeModel::num_trees).collect();
    let models: [TreeModel; 3] = models.try_into().expect("three models");
    let recommender = Recommender::with_rankers(index, Rankers { models }, config);
    let heuristic = holdout_recall(
        &recommender,
        &split.test,
        &split.labels,
        &parts[2],
        Strategy::Heuristic,
    );
    let ranker = holdout_recall(
        &recommender,
        &split.test,
        &split.labels,
        &parts[2],
        Strategy::Ranker,
    );

    // Re-read the manifest: the index files must still be the ones it lists.
    let mut manifest = read_manifest(dir)?;
    for (objective, text) in EventType::ALL.into_iter().zip(&texts) {
        let path = dir.join(model_file(objective));
        write_atomic(&path, |out| {
            out.write_all(text.as_bytes())
                .map_err(|e| Error::io(&path, e))
        })?;
        manifest
            .files
            .insert(model_file(objective), checksum(&path)?);
    }
    manifest.training = Some(serde_json::json!({
        "input": args.input.display().to_string(),
        "days": args.days,
        "seed": args.seed,
        "objective": "binary",
        "params": train_params,
        "candidates": config,
        "feature_names": FEATURE_NAMES.as_slice(),
        "trees": {"clicks": trees[0], "carts": trees[1], "orders": trees[2]},
        "sessions": {"train": parts[0].len(), "validation": parts[1].len(), "holdout": parts[2].len()},
        "candidate_recall": candidates,
        "holdout_recall": {"heuristic": heuristic, "ranker": ranker},
    }));
    write_manifest(dir, &manifest)?;

    let mut out = String::new();
    report!(out, "held-out sessions: {}", parts[2].len());
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
        ("candidates", candidates),
        ("heuristic", heuristic),
        ("ranker", ranker),
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
    print_report(&out)?;
    eprintln!(
        "wrote rankers ({} / {} / {} trees) into {} in {:.1} s",
        trees[0],
        trees[1],
        trees[2],
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
