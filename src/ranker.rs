//! LightGBM rankers: one model per objective, stored as LightGBM text model files.
//!
//! Training goes through LightGBM itself (`lightgbm3`). Scoring on the request path uses
//! [`TreeModel`], an evaluator of the same text format in plain Rust: it is `Send + Sync`
//! (LightGBM's `Booster` is neither, so one copy serves every worker and both cores of
//! `predict`), allocation-free per row, and its scores equal LightGBM's on every row (a test
//! compares them on real trained models).

use crate::features::{FEATURE_NAMES, NUM_FEATURES};

/// Why a model file could not be used.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelError(pub String);

impl std::error::Error for ModelError {}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bits of LightGBM's `decision_type`.
const CATEGORICAL_MASK: u8 = 1;
const DEFAULT_LEFT_MASK: u8 = 2;
/// LightGBM's missing-value types (bits 2–3 of `decision_type`).
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;
/// LightGBM's `kZeroThreshold`.
const ZERO_THRESHOLD: f64 = 1e-35;

/// A split, with LightGBM's missing-value rules resolved at load time.
#[derive(Clone, Debug)]
struct Node {
    /// The largest f32 not above LightGBM's f64 threshold: for an f32 feature value `x`,
    /// `x <= threshold` exactly when LightGBM's `(double) x <= threshold`.
    threshold: f32,
    feature: u16,
    /// Left and right child; a negative child `c` is leaf `!c`.
    children: [i32; 2],
    /// Where a NaN goes.
    nan_left: bool,
    /// Missing type "zero": values within ±1e-35 go the default way.
    zero_is_missing: bool,
    default_left: bool,
}

impl Node {
    /// [`goes_left`](Self::goes_left) for a node without the "zero" missing type, without
    /// branches: NaN compares false, so the NaN case is selected by bit operations.
    fn goes_left_fast(&self, value: f32) -> bool {
        let nan = value.is_nan();
        (nan & self.nan_left) | (!nan & (value <= self.threshold))
    }

    fn goes_left(&self, value: f32) -> bool {
        if value.is_nan() {
            self.nan_left
        } else if self.zero_is_missing && (value as f64).abs() <= ZERO_THRESHOLD {
            self.default_left
        } else {
            value <= self.threshold
        }
    }
}

/// The largest f32 that is not above `t`.
fn f32_at_most(t: f64) -> f32 {
    let c = t as f32;
    if (c as f64) > t { c.next_down() } else { c }
}

/// A tree as one node array: the internal nodes, then one self-looping node per leaf, so
/// a walk of exactly `depth` steps ends on the row's leaf without a branch per step.
#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<Node>,
    leaves: Vec<f64>,
    /// Index of the first leaf node in `nodes`.
    first_leaf: usize,
    /// Internal nodes on the longest root-to-leaf path.
    depth: usize,
    /// Some node uses the "zero" missing type.
    has_zero_missing: bool,
}

/// Rows walked through a tree together, so their independent walks overlap in the CPU.
const LANES: usize = 16;

impl Tree {
    fn from_internal(mut nodes: Vec<Node>, leaves: Vec<f64>) -> Self {
        let first_leaf = nodes.len();
        for node in &mut nodes {
            for c in &mut node.children {
                if *c < 0 {
                    *c = (first_leaf + !*c as usize) as i32;
                }
            }
        }
        for l in 0..leaves.len() {
            let me = (first_leaf + l) as i32;
            nodes.push(Node {
                threshold: 0.0,
                feature: 0,
                children: [me, me],
                nan_left: true,
                zero_is_missing: false,
                default_left: true,
            });
        }
        // Depth by a walk from the root (children always follow their parent's index
        // in LightGBM's layout, but a stack does not rely on it).
        let mut depth = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, d)) = stack.pop() {
            if i >= first_leaf {
                depth = depth.max(d);
                continue;
            }
            for &c in &nodes[i].children {
                stack.push((c as usize, d + 1));
            }
        }
        let mut tree = Tree {
            nodes,
            leaves,
            first_leaf,
            depth,
            has_zero_missing: false,
        };
        tree.has_zero_missing = tree.has_zero_missing();
        tree
    }

    fn leaf(&self, row: &[f32]) -> f64 {
        let mut i = 0usize;
        while i < self.first_leaf {
            let node = &self.nodes[i];
            i = node.children[!node.goes_left(row[node.feature as usize]) as usize] as usize;
        }
        self.leaves[i - self.first_leaf]
    }

    /// True when a node uses the "zero" missing type (which the fast walk ignores).
    fn has_zero_missing(&self) -> bool {
        self.nodes.iter().any(|n| n.zero_is_missing)
    }

    /// Adds this tree's output for up to [`LANES`] rows to `sums`; the tree must not use
    /// the "zero" missing type.
    fn add_leaves(&self, rows: &[&[f32]], sums: &mut [f64]) {
        let mut at = [0usize; LANES];
        for _ in 0..self.depth {
            for (i, row) in at.iter_mut().zip(rows) {
                // SAFETY: `*i` starts at the root and only takes child indices, which
                // `parse_tree` checked to lie inside `nodes` (leaf nodes loop on
                // themselves); `feature` was checked to be below the model's feature
                // count, which is the width of every row `score_rows` passes in.
                let node = unsafe { self.nodes.get_unchecked(*i) };
                let value = unsafe { *row.get_unchecked(node.feature as usize) };
                *i = node.children[!node.goes_left_fast(value) as usize] as usize;
            }
            if at[..rows.len()].iter().all(|&i| i >= self.first_leaf) {
                break;
            }
        }
        for ((sum, &i), _) in sums.iter_mut().zip(&at).zip(rows) {
            *sum += self.leaves[i - self.first_leaf];
        }
    }
}

/// A LightGBM model (numerical splits, one output) evaluated in Rust.
#[derive(Clone, Debug)]
pub struct TreeModel {
    feature_names: Vec<String>,
    /// `Some(σ)` for a binary objective: scores are `1 / (1 + exp(−σ·raw))`.
    sigmoid: Option<f64>,
    trees: Vec<Tree>,
}

fn parse_list<T: std::str::FromStr>(key: &str, value: &str) -> Result<Vec<T>, ModelError> {
    value
        .split_whitespace()
        .map(|v| {
            v.parse()
                .map_err(|_| ModelError(format!("bad value {v:?} in {key}")))
        })
        .collect()
}

impl TreeModel {
    /// Parses LightGBM's text model format.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let mut lines = text.lines().peekable();
        let mut header = std::collections::HashMap::new();
        while let Some(line) = lines.peek() {
            if line.starts_with("Tree=") {
                break;
            }
            if let Some((k, v)) = line.split_once('=') {
                header.insert(k.to_string(), v.to_string());
            }
            lines.next();
        }
        let get = |k: &str| {
            header
                .get(k)
                .ok_or_else(|| ModelError(format!("missing `{k}` in the model header")))
        };
        if get("num_class")? != "1" || get("num_tree_per_iteration")? != "1" {
            return Err(ModelError("only single-output models are supported".into()));
        }
        let feature_names: Vec<String> = get("feature_names")?
            .split_whitespace()
            .map(String::from)
            .collect();
        let objective = get("objective")?;
        let sigmoid = if objective.starts_with("binary") {
            let sigma = objective
                .split_whitespace()
                .find_map(|p| p.strip_prefix("sigmoid:"))
                .map_or(Ok(1.0), |s| {
                    s.parse::<f64>()
                        .map_err(|_| ModelError(format!("bad objective {objective:?}")))
                })?;
            Some(sigma)
        } else {
            None
        };

        let mut trees = Vec::new();
        let mut block: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let mut flush =
            |block: &mut std::collections::HashMap<String, String>| -> Result<(), ModelError> {
                if block.is_empty() {
                    return Ok(());
                }
                trees.push(Self::parse_tree(block, feature_names.len())?);
                block.clear();
                Ok(())
            };
        for line in lines {
            if line.starts_with("end of trees") {
                break;
            }
            if let Some(number) = line.strip_prefix("Tree=") {
                flush(&mut block)?;
                block.insert("Tree".into(), number.to_string());
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                block.insert(k.to_string(), v.to_string());
            }
        }
        flush(&mut block)?;
        if trees.is_empty() {
            return Err(ModelError("the model has no trees".into()));
        }
        Ok(TreeModel {
            feature_names,
            sigmoid,
            trees,
        })
    }

    fn parse_tree(
        block: &std::collections::HashMap<String, String>,
        num_features: usize,
    ) -> Result<Tree, ModelError> {
        let get = |k: &str| {
            block
                .get(k)
                .map(String::as_str)
                .ok_or_else(|| ModelError(format!("tree without `{k}`")))
        };
        if block.get("num_cat").is_some_and(|v| v != "0") {
            return Err(ModelError("categorical splits are not supported".into()));
        }
        if block.get("is_linear").is_some_and(|v| v != "0") {
            return Err(ModelError("linear trees are not supported".into()));
        }
        let num_leaves: usize = get("num_leaves")?
            .parse()
            .map_err(|_| ModelError("bad num_leaves".into()))?;
        let leaves: Vec<f64> = parse_list("leaf_value", get("leaf_value")?)?;
        if leaves.len() != num_leaves {
            return Err(ModelError("leaf_value does not match num_leaves".into()));
        }
        if num_leaves == 1 {
            return Ok(Tree::from_internal(Vec::new(), leaves));
        }
        let feature: Vec<u32> = parse_list("split_feature", get("split_feature")?)?;
        let threshold: Vec<f64> = parse_list("threshold", get("threshold")?)?;
        let decision: Vec<u8> = parse_list("decision_type", get("decision_type")?)?;
        let left: Vec<i32> = parse_list("left_child", get("left_child")?)?;
        let right: Vec<i32> = parse_list("right_child", get("right_child")?)?;
        let n = num_leaves - 1;
        if [
            feature.len(),
            threshold.len(),
            decision.len(),
            left.len(),
            right.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(ModelError("a tree's arrays do not match num_leaves".into()));
        }
        let child_ok = |c: i32| {
            if c < 0 {
                (!c as usize) < num_leaves
            } else {
                (c as usize) < n
            }
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            if decision[i] & CATEGORICAL_MASK != 0 {
                return Err(ModelError("categorical splits are not supported".into()));
            }
            if feature[i] as usize >= num_features.min(u16::MAX as usize)
                || !child_ok(left[i])
                || !child_ok(right[i])
            {
                return Err(ModelError(
                    "a tree refers to a feature or node that does not exist".into(),
                ));
            }
            let default_left = decision[i] & DEFAULT_LEFT_MASK != 0;
            let missing = (decision[i] >> 2) & 3;
            let nan_left = match missing {
                MISSING_NAN | MISSING_ZERO => default_left,
                // No missing type: LightGBM reads NaN as 0.
                _ => 0.0 <= threshold[i],
            };
            nodes.push(Node {
                threshold: f32_at_most(threshold[i]),
                feature: feature[i] as u16,
                children: [left[i], right[i]],
                nan_left,
                zero_is_missing: missing == MISSING_ZERO,
                default_left,
            });
        }
        Ok(Tree::from_internal(nodes, leaves))
    }

    /// The feature names stored in the model.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of trees.
    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }

    /// The sum of the trees' outputs (LightGBM's raw score).
    pub fn raw_score(&self, row: &[f32]) -> f64 {
        self.trees.iter().map(|t| t.leaf(row)).sum()
    }

    /// The model's prediction (LightGBM's "normal" predict: a probability for binary models).
    pub fn score(&self, row: &[f32]) -> f64 {
        self.transform(self.raw_score(row))
    }

    fn transform(&self, raw: f64) -> f64 {
        match self.sigmoid {
            Some(sigma) => 1.0 / (1.0 + (-sigma * raw).exp()),
            None => raw,
        }
    }

    /// Scores many rows (row-major, [`NUM_FEATURES`] each) into `out`, walking groups of
    /// rows through each tree together. Equal to [`score`](Self::score) on each row: every
    /// row still sums its trees in order.
    pub fn score_rows(&self, rows: &[f32], out: &mut Vec<f64>) {
        let width = self.feature_names.len();
        out.clear();
        out.resize(rows.len() / width, 0.0);
        let all: Vec<&[f32]> = rows.chunks_exact(width).collect();
        for (group, sums) in all.chunks(LANES).zip(out.chunks_mut(LANES)) {
            for tree in &self.trees {
                if tree.has_zero_missing {
                    for (sum, row) in sums.iter_mut().zip(group) {
                        *sum += tree.leaf(row);
                    }
                } else {
                    tree.add_leaves(group, sums);
                }
            }
        }
        for v in out.iter_mut() {
            *v = self.transform(*v);
        }
    }

    /// Checks that the model was trained on this otto-rec's features, in order.
    pub fn check_features(&self) -> Result<(), ModelError> {
        if self.feature_names.len() == NUM_FEATURES
            && self
                .feature_names
                .iter()
                .zip(FEATURE_NAMES)
                .all(|(a, b)| a == b)
        {
            return Ok(());
        }
        let missing: Vec<&str> = FEATURE_NAMES
            .iter()
            .copied()
            .filter(|f| !self.feature_names.iter().any(|n| n == f))
            .collect();
        let extra: Vec<&str> = self
            .feature_names
            .iter()
            .map(String::as_str)
            .filter(|n| !FEATURE_NAMES.contains(n))
            .collect();
        Err(ModelError(format!(
            "the model's features do not match this otto-rec's ({} in the model, {NUM_FEATURES} expected; missing {missing:?}, unknown {extra:?}, or a different order): retrain with `otto-rec train`",
            self.feature_names.len()
        )))
    }
}

/// One model per objective (indexed by [`EventType::index`](crate::data::EventType::index)).
#[derive(Clone, Debug)]
pub struct Rankers {
    pub models: [TreeModel; 3],
}

/// File name of an objective's model in a model directory.
pub fn model_file(objective: crate::data::EventType) -> String {
    format!("ranker_{}.txt", objective.name())
}

/// LightGBM training through `lightgbm3`.
pub mod training {
    use lightgbm3::{Booster, Dataset};

    use super::ModelError;
    use crate::features::{FEATURE_NAMES, NUM_FEATURES};

    /// Hyper-parameters of one ranker.
    #[derive(Clone, Debug, serde::Serialize)]
    pub struct TrainParams {
        pub learning_rate: f64,
        pub num_leaves: u32,
        /// Deepest split; shallow trees keep the request-path walk short.
        pub max_depth: u32,
        pub min_data_in_leaf: u32,
        pub feature_fraction: f64,
        pub bagging_fraction: f64,
        pub lambda_l2: f64,
        pub max_trees: u32,
        pub early_stopping_rounds: u32,
        pub seed: u64,
        pub threads: usize,
    }

    impl Default for TrainParams {
        fn default() -> Self {
            TrainParams {
                learning_rate: 0.1,
                num_leaves: 31,
                max_depth: 8,
                min_data_in_leaf: 40,
                feature_fraction: 0.8,
                bagging_fraction: 0.8,
                lambda_l2: 1.0,
                max_trees: 300,
                early_stopping_rounds: 30,
                seed: 42,
                threads: 2,
            }
        }
    }

    fn dataset(
        rows: &[f32],
        labels: &[f32],
        reference: Option<&Dataset>,
    ) -> Result<Dataset, ModelError> {
        let mut data =
            Dataset::from_slice_with_reference(rows, labels, NUM_FEATURES as i32, true, reference)
                .map_err(|e| ModelError(e.to_string()))?;
        let names: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        data.set_feature_names(&names)
            .map_err(|e| ModelError(e.to_string()))?;
        Ok(data)
    }

    /// Fits a binary LightGBM model on row-major feature rows with 0/1 labels, with early
    /// stopping on the validation rows; returns the model as LightGBM text.
    pub fn fit_binary(
        train: (&[f32], &[f32]),
        valid: (&[f32], &[f32]),
        params: &TrainParams,
    ) -> Result<String, ModelError> {
        let train_set = dataset(train.0, train.1, None)?;
        let valid_set = dataset(valid.0, valid.1, Some(&train_set))?;
        let config = serde_json::json!({
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves,
            "max_depth": params.max_depth,
            "min_data_in_leaf": params.min_data_in_leaf,
            "feature_fraction": params.feature_fraction,
            "bagging_fraction": params.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": params.lambda_l2,
            "num_iterations": params.max_trees,
            "early_stopping_rounds": params.early_stopping_rounds,
            "seed": params.seed,
            "deterministic": true,
            "force_row_wise": true,
            "num_threads": params.threads,
            "verbose": -1,
        });
        let booster = Booster::train_with_valid(train_set, Some(valid_set), &config)
            .map_err(|e| ModelError(e.to_string()))?;
        booster.save_string().map_err(|e| ModelError(e.to_string()))
    }

    /// LightGBM's own predictions for rows (to check the Rust evaluator against).
    pub fn lightgbm_predict(model: &str, rows: &[f32]) -> Result<Vec<f64>, ModelError> {
        let booster = Booster::from_string(model).map_err(|e| ModelError(e.to_string()))?;
        booster
            .predict_with_params(rows, NUM_FEATURES as i32, true, "num_threads=1")
            .map_err(|e| ModelError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::training::{TrainParams, fit_binary, lightgbm_predict};
    use super::*;
    use crate::rng::Rng;

    /// Random rows with NaNs and zeros, and a label that depends on a few features.
    fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = Rng::new(seed);
        let mut rows = Vec::with_capacity(n * NUM_FEATURES);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let start = rows.len();
            for f in 0..NUM_FEATURES {
                let v = match rng.below(10) {
                    0 => f32::NAN,
                    1 => 0.0,
                    _ => (rng.normal() * (1 + f % 5) as f64) as f32,
                };
                rows.push(v);
            }
            let r = &rows[start..];
            let signal = r[3].max(0.0)
                + if r[10].is_nan() { 1.5 } else { -r[10] }
                + 0.5 * rng.normal() as f32;
            labels.push((signal > 1.0) as u8 as f32);
        }
        (rows, labels)
    }

    #[test]
    fn rust_evaluator_equals_lightgbm_on_every_row() {
        let (rows, labels) = data(3_000, 1);
        let (vrows, vlabels) = data(1_000, 2);
        let params = TrainParams {
            max_trees: 60,
            min_data_in_leaf: 5,
            ..Default::default()
        };
        let text = fit_binary((&rows, &labels), (&vrows, &vlabels), &params).unwrap();
        let model = TreeModel::parse(&text).unwrap();
        assert!(model.num_trees() > 5);
        model.check_features().unwrap();
        let expected = lightgbm_predict(&text, &vrows).unwrap();
        for (i, want) in expected.iter().enumerate() {
            let got = model.score(&vrows[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "row {i}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn a_model_with_other_features_is_rejected() {
        let text = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\n\nTree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\nshrinkage=1\n\nend of trees\n";
        let model = TreeModel::parse(text).unwrap();
        assert_eq!(model.score(&[0.0, 0.0]), 1.0 / (1.0 + (-0.5f64).exp()));
        let err = model.check_features().unwrap_err();
        assert!(err.0.contains("retrain"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(TreeModel::parse("").is_err());
        assert!(TreeModel::parse("num_class=1\nnum_tree_per_iteration=1\nfeature_names=a\nobjective=binary\nTree=0\nnum_leaves=3\nleaf_value=1 2 3\n").is_err());
    }
}
