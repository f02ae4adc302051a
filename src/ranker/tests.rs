//! The evaluator tested against models LightGBM fits, and against LightGBM's own
//! predictions.

use super::*;
use crate::features::{FEATURE_NAMES, NUM_FEATURES};
use crate::lightgbm::{Booster, Dataset, params_string};
use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Binary,
    Lambdarank,
}

impl Objective {
    fn name(self) -> &'static str {
        match self {
            Objective::Binary => "binary",
            Objective::Lambdarank => "lambdarank",
        }
    }
}

/// Feature rows with labels and query groups of 10 rows.
#[derive(Default)]
struct Rows {
    rows: Vec<f32>,
    labels: Vec<f32>,
    groups: Vec<i32>,
}

/// Random rows with NaNs and zeros, and a label that depends on a few features; groups
/// of 10 rows.
fn data(n: usize, seed: u64) -> Rows {
    let mut rng = Rng::new(seed);
    let mut out = Rows::default();
    for _ in 0..n {
        let start = out.rows.len();
        for f in 0..NUM_FEATURES {
            let v = match rng.below(10) {
                0 => f32::NAN,
                1 => 0.0,
                _ => (rng.normal() * (1 + f % 5) as f64) as f32,
            };
            out.rows.push(v);
        }
        let r = &out.rows[start..];
        let signal =
            r[3].max(0.0) + if r[10].is_nan() { 1.5 } else { -r[10] } + 0.5 * rng.normal() as f32;
        out.labels.push((signal > 1.0) as u8 as f32);
    }
    out.groups = vec![10; n / 10];
    out
}

/// Fits up to `trees` trees with LightGBM, with the parameters `train` uses (bagging,
/// feature fraction, a fixed seed), and returns the model as LightGBM text.
fn fit(
    train: &Rows,
    valid: &Rows,
    objective: Objective,
    trees: u32,
    leaves: u32,
    min_data_in_leaf: u32,
) -> String {
    let mut train_set = Dataset::from_rows(&train.rows, NUM_FEATURES, "", None).unwrap();
    train_set.set_labels(&train.labels).unwrap();
    train_set.set_groups(&train.groups).unwrap();
    train_set.set_feature_names(&FEATURE_NAMES).unwrap();
    let mut valid_set =
        Dataset::from_rows(&valid.rows, NUM_FEATURES, "", Some(&train_set)).unwrap();
    valid_set.set_labels(&valid.labels).unwrap();
    valid_set.set_groups(&valid.groups).unwrap();
    let params = params_string(&[
        ("objective", objective.name().into()),
        ("metric", "none".into()),
        ("learning_rate", "0.1".into()),
        ("num_leaves", leaves.to_string()),
        ("max_depth", "8".into()),
        ("min_data_in_leaf", min_data_in_leaf.to_string()),
        ("feature_fraction", "0.8".into()),
        ("bagging_fraction", "0.8".into()),
        ("bagging_freq", "1".into()),
        ("seed", "42".into()),
        ("deterministic", "true".into()),
        ("force_row_wise", "true".into()),
        ("num_threads", "2".into()),
        ("verbose", "-1".into()),
    ]);
    let mut booster = Booster::new(&train_set, &valid_set, &params).unwrap();
    for _ in 0..trees {
        if !booster.update().unwrap() {
            break;
        }
    }
    booster.model_text().unwrap()
}

/// LightGBM's own predictions through its C API (`lightgbm3`).
fn lightgbm_predict(model: &str, rows: &[f32]) -> Vec<f64> {
    let booster = lightgbm3::Booster::from_string(model).unwrap();
    booster
        .predict_with_params(rows, NUM_FEATURES as i32, true, "num_threads=1")
        .unwrap()
}

fn trained(objective: Objective) -> (String, Rows) {
    let train = data(3_000, 1);
    let valid = data(1_000, 2);
    (fit(&train, &valid, objective, 60, 31, 5), valid)
}

fn assert_equal(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{what}: {got} vs LightGBM {want}"
    );
}

#[test]
fn score_equals_lightgbm_on_every_row() {
    let (text, valid) = trained(Objective::Binary);
    let model = TreeModel::parse(&text).unwrap();
    assert!(model.num_trees() > 5);
    model.check_features().unwrap();
    let expected = lightgbm_predict(&text, &valid.rows);
    for (i, want) in expected.iter().enumerate() {
        let got = model.score(&valid.rows[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]);
        assert_equal(got, *want, &format!("row {i}"));
    }
}

/// The batched walk that serves every request, at row counts below, at, between and
/// above multiples of its lane width, for both objectives `train` fits.
#[test]
fn score_rows_equals_lightgbm_at_every_row_count() {
    for objective in [Objective::Binary, Objective::Lambdarank] {
        let (text, valid) = trained(objective);
        let model = TreeModel::parse(&text).unwrap();
        assert_eq!(model.objective(), objective.name());
        let expected = lightgbm_predict(&text, &valid.rows);
        let mut scores = Vec::new();
        for n in [
            1,
            7,
            LANES - 1,
            LANES,
            LANES + 1,
            2 * LANES,
            3 * LANES + 5,
            997,
        ] {
            model.score_rows(&valid.rows[..n * NUM_FEATURES], &mut scores);
            assert_eq!(scores.len(), n);
            for (i, (&got, &want)) in scores.iter().zip(&expected).enumerate() {
                assert_equal(got, want, &format!("{objective:?}, {n} rows, row {i}"));
            }
        }
    }
}

/// QuickScorer, the walk and the one-row walk give the same bits on every row, at row
/// counts that do and do not fill its blocks; the rows hold NaNs and zeros.
#[test]
fn quickscorer_equals_the_walk_bit_for_bit() {
    use super::quickscorer::LANES as QS_LANES;
    for objective in [Objective::Binary, Objective::Lambdarank] {
        let (text, valid) = trained(objective);
        let model = TreeModel::parse(&text).unwrap();
        assert!(model.quick.is_some());
        assert_eq!(model.uses_quickscorer(), QuickScorer::available());
        let (mut quick, mut walked) = (Vec::new(), Vec::new());
        // Passes of one to four blocks, full and not.
        for n in [
            1,
            QS_LANES - 1,
            QS_LANES,
            QS_LANES + 1,
            2 * QS_LANES + 1,
            3 * QS_LANES,
            4 * QS_LANES,
            5 * QS_LANES + 3,
            1000,
        ] {
            let rows = &valid.rows[..n * NUM_FEATURES];
            model.score_rows(rows, &mut quick);
            model.score_rows_walk(rows, &mut walked);
            assert_eq!(quick.len(), n);
            for (i, row) in rows.chunks_exact(NUM_FEATURES).enumerate() {
                assert_eq!(quick[i].to_bits(), walked[i].to_bits(), "row {i} of {n}");
                assert_eq!(quick[i].to_bits(), model.score(row).to_bits(), "row {i}");
            }
        }
    }
}

/// An early exit scores each group's best `keep` rows on the first trees with the full
/// model's bits and leaves the others out; with QuickScorer's stages and with the walk.
#[test]
fn early_exit_finishes_each_groups_best_rows_exactly() {
    for objective in [Objective::Binary, Objective::Lambdarank] {
        let (text, valid) = trained(objective);
        for quick in [true, false] {
            let mut model = TreeModel::parse(&text).unwrap();
            if !quick {
                model.quick = None;
            }
            let trees = model.num_trees() / 3;
            model.prepare_early_exit(trees);
            let exit = EarlyExit { trees, keep: 10 };
            let groups = [5, 37, 10, 11, 60, 1];
            let n: usize = groups.iter().sum();
            let rows = &valid.rows[..n * NUM_FEATURES];
            let (mut full, mut early) = (Vec::new(), Vec::new());
            model.score_rows(rows, &mut full);
            model.score_groups(rows, &groups, Some(exit), &mut early);
            let head: Vec<f64> = rows
                .chunks_exact(NUM_FEATURES)
                .map(|r| model.trees[..trees].iter().map(|t| t.leaf(r)).sum())
                .collect();
            let mut first = 0;
            for &g in &groups {
                let mut best: Vec<usize> = (first..first + g).collect();
                best.sort_by(|&a, &b| head[b].total_cmp(&head[a]).then(a.cmp(&b)));
                best.truncate(exit.keep);
                for i in first..first + g {
                    if best.contains(&i) {
                        assert_eq!(early[i].to_bits(), full[i].to_bits(), "row {i}");
                    } else {
                        assert_eq!(early[i], f64::NEG_INFINITY, "row {i}");
                    }
                }
                first += g;
            }
            // No early exit, or one the model was not split for: every row in full.
            for other in [
                None,
                Some(EarlyExit {
                    trees: trees + 1,
                    keep: 10,
                }),
            ] {
                model.score_groups(rows, &groups, other, &mut early);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&early), bits(&full));
            }
        }
    }
}

/// Models laid out together give each model's own scores, bit for bit: every kernel on
/// the joint layout, and the rankers' scoring of all objectives at once with no early
/// exit, with one (a model shorter than its first stage scored in full), and with one
/// laid out for another tree count.
#[test]
fn models_scored_together_score_as_each_alone() {
    let (binary, valid) = trained(Objective::Binary);
    let (lambdarank, _) = trained(Objective::Lambdarank);
    let a = TreeModel::parse(&binary).unwrap();
    let b = TreeModel::parse(&lambdarank).unwrap();
    let mut c = b.clone();
    c.trees.truncate(4);
    c.quick = QuickScorer::new(&c.trees, NUM_FEATURES);
    let trees = a.num_trees().min(b.num_trees()) / 3;
    assert!(trees > c.num_trees(), "c is shorter than the first stage");

    let joint =
        QuickScorer::joint(&[&a.trees[..], &b.trees[..], &c.trees[..]], NUM_FEATURES).unwrap();
    let n = 250;
    let rows = &valid.rows[..n * NUM_FEATURES];
    for kernel in joint.kernels() {
        let mut outs = vec![vec![0f64; n]; 3];
        let mut slices: Vec<&mut [f64]> = outs.iter_mut().map(|o| &mut o[..]).collect();
        joint.raw_scores_parts(kernel, rows, &mut slices);
        for (model, out) in [&a, &b, &c].into_iter().zip(&outs) {
            let alone: Vec<u64> = rows
                .chunks_exact(NUM_FEATURES)
                .map(|r| model.raw_score(r).to_bits())
                .collect();
            let together: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(together, alone, "{kernel:?}");
        }
    }

    let mut rankers = Rankers::new([Some(a), Some(b), Some(c)]);
    assert!(rankers.joint.is_some());
    rankers.prepare_early_exit(trees);
    let groups = [5, 37, 10, 11, 60, 1, 126];
    assert_eq!(groups.iter().sum::<usize>(), n);
    for early in [
        None,
        Some(EarlyExit { trees, keep: 10 }),
        Some(EarlyExit {
            trees: trees + 1,
            keep: 10,
        }),
    ] {
        let mut together: [Vec<f64>; 3] = Default::default();
        rankers.score_groups(rows, &groups, early, &mut together);
        for (objective, got) in EventType::ALL.into_iter().zip(&together) {
            let mut alone = Vec::new();
            let model = rankers.model(objective).unwrap();
            model.score_groups(rows, &groups, early, &mut alone);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(&alone), "{objective:?}, {early:?}");
        }
    }
}

/// Every kernel the CPU runs gives the scalar kernel's bits: on a model of 31-leaf
/// trees (LightGBM's default: the narrow kernel, and the wide one) and on one of up to
/// 48 leaves (the wide kernel only).
#[test]
fn every_kernel_equals_the_scalar_one() {
    for leaves in [31, 48] {
        let train = data(3_000, 1);
        let valid = data(1_000, 2);
        let text = fit(&train, &valid, Objective::Lambdarank, 30, leaves, 2);
        let model = TreeModel::parse(&text).unwrap();
        let widest = model.trees.iter().map(|t| t.leaves.len()).max().unwrap();
        assert_eq!(widest > 32, leaves > 32, "{leaves}: widest tree {widest}");
        let kernels = model.kernels();
        assert_eq!(kernels.last(), Some(&Kernel::Portable));
        if QuickScorer::available() {
            assert_eq!(kernels.contains(&Kernel::Narrow), leaves <= 32);
            assert!(kernels.contains(&Kernel::Wide));
        }
        // Both ways a feature's scan can end are exercised.
        let scans = model.quick.as_ref().unwrap().scan_kinds();
        assert!(
            scans.0 > 0 && scans.1 > 0,
            "{leaves}: long, short {scans:?}"
        );
        let n = valid.rows.len() / NUM_FEATURES;
        let (mut got, mut scalar) = (Vec::new(), Vec::new());
        for rows in [1, 16, 17, 32, 33, 48, 49, 64, 65, 250, n] {
            let rows = &valid.rows[..rows * NUM_FEATURES];
            model.score_rows_kernel(Kernel::Portable, rows, &mut scalar);
            for &kernel in &kernels {
                model.score_rows_kernel(kernel, rows, &mut got);
                assert!(
                    got.iter()
                        .zip(&scalar)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{kernel:?}, {leaves} leaves, {} rows",
                    got.len()
                );
            }
        }
    }
}

/// Values at and beyond every threshold: a value of +inf is above every split but not
/// above the sentinel that ends each feature's scan, and the kernels, the walk and
/// LightGBM agree on it, on -inf, on the largest finite values and on NaN.
#[test]
fn infinite_and_extreme_values_score_the_same_everywhere() {
    let (text, valid) = trained(Objective::Lambdarank);
    let model = TreeModel::parse(&text).unwrap();
    let mut rows = valid.rows[..40 * NUM_FEATURES].to_vec();
    let extremes = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        f32::NAN,
    ];
    for (i, value) in rows.iter_mut().enumerate() {
        // Whole rows of one extreme, and rows mixing them with ordinary values.
        let row = i / NUM_FEATURES;
        if row < extremes.len() {
            *value = extremes[row];
        } else if (i * 7) % 3 == 0 {
            *value = extremes[i % extremes.len()];
        }
    }
    let expected = lightgbm_predict(&text, &rows);
    let (mut walked, mut got) = (Vec::new(), Vec::new());
    model.score_rows_walk(&rows, &mut walked);
    for (i, (&got, &want)) in walked.iter().zip(&expected).enumerate() {
        assert_equal(got, want, &format!("row {i}"));
    }
    for kernel in model.kernels() {
        model.score_rows_kernel(kernel, &rows, &mut got);
        assert!(
            got.iter()
                .zip(&walked)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{kernel:?}"
        );
    }
}

/// A model QuickScorer does not fit (a split with the "zero" missing type) keeps the
/// walk, and still equals LightGBM.
#[test]
fn a_model_with_zero_as_missing_keeps_the_walk() {
    let (text, valid) = trained(Objective::Binary);
    let line = text
        .lines()
        .find(|l| l.starts_with("decision_type="))
        .unwrap();
    let mut values: Vec<&str> = line["decision_type=".len()..].split(' ').collect();
    values[0] = "6"; // default left, missing type "zero"
    // Without `tree_sizes` LightGBM reads the trees in sequence, whatever their length.
    let changed: String = text
        .replacen(line, &format!("decision_type={}", values.join(" ")), 1)
        .lines()
        .filter(|l| !l.starts_with("tree_sizes="))
        .flat_map(|l| [l, "\n"])
        .collect();
    let model = TreeModel::parse(&changed).unwrap();
    assert!(model.quick.is_none() && !model.uses_quickscorer());
    let expected = lightgbm_predict(&changed, &valid.rows);
    let mut scores = Vec::new();
    model.score_rows(&valid.rows, &mut scores);
    for (i, (&got, &want)) in scores.iter().zip(&expected).enumerate() {
        assert_equal(got, want, &format!("row {i}"));
    }
}

#[test]
fn the_popular_fill_floor_is_below_every_score() {
    for objective in [Objective::Binary, Objective::Lambdarank] {
        let (text, valid) = trained(objective);
        let model = TreeModel::parse(&text).unwrap();
        let mut scores = Vec::new();
        model.score_rows(&valid.rows, &mut scores);
        let floor = model.score_floor();
        if objective == Objective::Binary {
            assert_eq!(floor, 0.0, "a sigmoid's outputs are positive");
        }
        assert!(scores.iter().all(|&s| (s as f32) > floor), "{objective:?}");
    }
}

#[test]
fn a_model_with_other_features_is_rejected() {
    let text = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\n\nTree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\nshrinkage=1\n\nend of trees\n";
    let model = TreeModel::parse(text).unwrap();
    assert_eq!(model.score(&[0.0, 0.0]), 1.0 / (1.0 + (-0.5f64).exp()));
    let err = model.check_features().unwrap_err();
    assert_eq!(err.code(), "feature_mismatch");
    assert!(err.to_string().contains("retrain"), "{err}");
}

#[test]
fn an_objective_the_evaluator_cannot_score_is_refused() {
    let text = "tree\nnum_class=1\nnum_tree_per_iteration=1\nobjective=poisson\nfeature_names=a\n\nTree=0\nnum_leaves=1\nleaf_value=0.5\n\nend of trees\n";
    let err = TreeModel::parse(text).unwrap_err();
    assert_eq!(err.code(), "unsupported_model");
    let ranking = text.replace("poisson", "lambdarank");
    let model = TreeModel::parse(&ranking).unwrap();
    assert_eq!(model.score(&[0.0]), 0.5, "ranking scores are raw sums");
    assert!(model.score_floor() < 0.5);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(TreeModel::parse("").is_err());
    assert!(TreeModel::parse("num_class=1\nnum_tree_per_iteration=1\nfeature_names=a\nobjective=binary\nTree=0\nnum_leaves=3\nleaf_value=1 2 3\n").is_err());
}
