//! LightGBM rankers: one model per objective, stored as LightGBM text model files.
//!
//! Training goes through LightGBM itself (`crate::training`). Scoring on the request path
//! uses [`TreeModel`], an evaluator of the same text format in plain Rust: it is
//! `Send + Sync` (LightGBM's `Booster` is neither, so one copy serves every worker and both
//! cores of `predict`), allocation-free per row, and its scores equal LightGBM's on every
//! row (tests compare both [`TreeModel::score`] and [`TreeModel::score_rows`] with
//! LightGBM's own predictions on real trained models). Many rows at once are scored with
//! QuickScorer (`quickscorer`) when every tree fits it, otherwise by a batched node walk;
//! both give the same bits.

mod quickscorer;

pub use self::quickscorer::Kernel;
use self::quickscorer::QuickScorer;
use crate::domain::EventType;
use crate::features::{FEATURE_NAMES, NUM_FEATURES};

/// Why a model file could not be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("missing `{0}` in the model")]
    MissingKey(String),
    #[error("bad value {value:?} in `{key}`")]
    BadValue { key: String, value: String },
    #[error("{0} are not supported")]
    Unsupported(&'static str),
    #[error("objective {0:?} is not supported (binary, lambdarank and rank_xendcg are)")]
    Objective(String),
    #[error("{0}")]
    Inconsistent(&'static str),
    #[error("the model has no trees")]
    NoTrees,
    #[error(
        "the model's features do not match this otto-rec's ({found} in the model, {expected} expected; missing {missing:?}, unknown {unknown:?}, or a different order): retrain with `otto-rec train`"
    )]
    FeatureMismatch {
        found: usize,
        expected: usize,
        missing: Vec<String>,
        unknown: Vec<String>,
    },
}

impl ModelError {
    /// The stable error code (see [`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::FeatureMismatch { .. } => "feature_mismatch",
            ModelError::Unsupported(_) | ModelError::Objective(_) => "unsupported_model",
            _ => "invalid_model",
        }
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
    /// `Some(σ)` for a binary objective: scores are `1 / (1 + exp(−σ·raw))`; `None` for the
    /// ranking objectives, whose scores are the raw sums.
    sigmoid: Option<f64>,
    objective: String,
    trees: Vec<Tree>,
    /// The QuickScorer layout, when every tree fits it.
    quick: Option<QuickScorer>,
    /// The two stages of an [`EarlyExit`], set by
    /// [`prepare_early_exit`](TreeModel::prepare_early_exit).
    stages: Option<Box<Stages>>,
}

/// Where an [`EarlyExit`] splits a model: its first `trees` trees and the rest, each in
/// QuickScorer's layout when the model fits it.
#[derive(Clone, Debug)]
struct Stages {
    trees: usize,
    quick: Option<(QuickScorer, QuickScorer)>,
}

/// Early exit, a two-stage cascade over an additive ensemble: every candidate of a session
/// is scored on the model's first `trees` trees, and only its `keep` best on the rest.
/// The candidates that go on get exactly the full model's scores (the second stage adds
/// its leaves onto the first's sums, in tree order); the others are left out of the
/// ranking. With `keep` at least the number of items asked for, the answer differs from
/// full scoring only when a candidate outside the first stage's best `keep` would have
/// made the list (BENCHMARKS.md measures how often that costs a hit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EarlyExit {
    /// Trees of the first stage.
    pub trees: usize,
    /// Candidates per session scored on the remaining trees.
    pub keep: usize,
}

fn parse_list<T: std::str::FromStr>(key: &str, value: &str) -> Result<Vec<T>, ModelError> {
    value
        .split_whitespace()
        .map(|v| {
            v.parse().map_err(|_| ModelError::BadValue {
                key: key.to_string(),
                value: v.to_string(),
            })
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
                .ok_or_else(|| ModelError::MissingKey(k.to_string()))
        };
        if get("num_class")? != "1" || get("num_tree_per_iteration")? != "1" {
            return Err(ModelError::Unsupported("models with several outputs"));
        }
        let feature_names: Vec<String> = get("feature_names")?
            .split_whitespace()
            .map(String::from)
            .collect();
        let objective = get("objective")?;
        let name = objective.split_whitespace().next().unwrap_or("");
        let sigmoid = match name {
            "binary" => {
                let sigma = objective
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix("sigmoid:"))
                    .map_or(Ok(1.0), |s| {
                        s.parse::<f64>().map_err(|_| ModelError::BadValue {
                            key: "objective".into(),
                            value: objective.clone(),
                        })
                    })?;
                Some(sigma)
            }
            "lambdarank" | "rank_xendcg" => None,
            _ => return Err(ModelError::Objective(objective.clone())),
        };
        let objective = name.to_string();

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
            return Err(ModelError::NoTrees);
        }
        let quick = QuickScorer::new(&trees, feature_names.len());
        Ok(TreeModel {
            feature_names,
            sigmoid,
            objective,
            trees,
            quick,
            stages: None,
        })
    }

    /// Splits the model after its first `trees` trees for
    /// [`score_groups`](Self::score_groups); a model with at most `trees` trees is not
    /// split, and scores every row on every tree.
    pub fn prepare_early_exit(&mut self, trees: usize) {
        let width = self.feature_names.len();
        self.stages = (trees > 0 && trees < self.trees.len()).then(|| {
            let quick = self.quick.as_ref().and_then(|_| {
                let head = QuickScorer::new(&self.trees[..trees], width)?;
                let tail = QuickScorer::new(&self.trees[trees..], width)?;
                Some((head, tail))
            });
            Box::new(Stages { trees, quick })
        });
    }

    fn parse_tree(
        block: &std::collections::HashMap<String, String>,
        num_features: usize,
    ) -> Result<Tree, ModelError> {
        let get = |k: &str| {
            block
                .get(k)
                .map(String::as_str)
                .ok_or_else(|| ModelError::MissingKey(k.to_string()))
        };
        if block.get("num_cat").is_some_and(|v| v != "0") {
            return Err(ModelError::Unsupported("categorical splits"));
        }
        if block.get("is_linear").is_some_and(|v| v != "0") {
            return Err(ModelError::Unsupported("linear trees"));
        }
        let num_leaves: usize = get("num_leaves")?
            .parse()
            .map_err(|_| ModelError::BadValue {
                key: "num_leaves".into(),
                value: get("num_leaves").unwrap_or_default().to_string(),
            })?;
        let leaves: Vec<f64> = parse_list("leaf_value", get("leaf_value")?)?;
        if leaves.len() != num_leaves || num_leaves == 0 {
            return Err(ModelError::Inconsistent(
                "leaf_value does not match num_leaves",
            ));
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
            return Err(ModelError::Inconsistent(
                "a tree's arrays do not match num_leaves",
            ));
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
                return Err(ModelError::Unsupported("categorical splits"));
            }
            if feature[i] as usize >= num_features.min(u16::MAX as usize)
                || !child_ok(left[i])
                || !child_ok(right[i])
            {
                return Err(ModelError::Inconsistent(
                    "a tree refers to a feature or node that does not exist",
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

    /// The objective the model was trained with (`binary`, `lambdarank`, `rank_xendcg`).
    pub fn objective(&self) -> &str {
        &self.objective
    }

    /// A score below every score the model can give: each tree contributes at least its
    /// smallest leaf, so the transformed sum of those minima bounds all scores from below;
    /// one less than that (0 for a sigmoid, whose outputs are positive) is strictly below.
    /// Items that were not scored (the popular fill) get it, so they rank last whatever the
    /// objective.
    pub fn score_floor(&self) -> f32 {
        match self.sigmoid {
            Some(_) => 0.0,
            None => {
                let lowest: f64 = self
                    .trees
                    .iter()
                    .map(|t| t.leaves.iter().copied().fold(f64::INFINITY, f64::min))
                    .sum();
                (lowest as f32).next_down() - 1.0
            }
        }
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

    /// Scores many rows (row-major, [`NUM_FEATURES`] each) into `out`: with QuickScorer
    /// when the model fits it, otherwise by [`score_rows_walk`](Self::score_rows_walk).
    /// Equal to [`score`](Self::score) on each row, bit for bit.
    pub fn score_rows(&self, rows: &[f32], out: &mut Vec<f64>) {
        let quick = self
            .quick
            .as_ref()
            .filter(|_| QuickScorer::available())
            .map(|q| (q, q.fastest()));
        self.score_rows_with(quick, rows, out);
    }

    /// True when [`score_rows`](Self::score_rows) uses QuickScorer: the model fits it and
    /// the CPU runs its vectorised kernel.
    pub fn uses_quickscorer(&self) -> bool {
        self.quick.is_some() && QuickScorer::available()
    }

    /// The QuickScorer kernels that can score this model on this CPU, the one
    /// [`score_rows`](Self::score_rows) uses first (none when the model does not fit).
    pub fn kernels(&self) -> Vec<Kernel> {
        self.quick.as_ref().map_or_else(Vec::new, |q| q.kernels())
    }

    /// [`score_rows`](Self::score_rows) with QuickScorer's `kernel`, one of
    /// [`kernels`](Self::kernels) (for measuring and testing them side by side).
    pub fn score_rows_kernel(&self, kernel: Kernel, rows: &[f32], out: &mut Vec<f64>) {
        let quick = self.quick.as_ref().expect("the model fits QuickScorer");
        self.score_rows_with(Some((quick, kernel)), rows, out);
    }

    /// Scores many rows by walking groups of rows through each tree together (the
    /// evaluator for models QuickScorer does not fit, and its reference). Equal to
    /// [`score`](Self::score) on each row: every row still sums its trees in order.
    pub fn score_rows_walk(&self, rows: &[f32], out: &mut Vec<f64>) {
        self.score_rows_with(None, rows, out);
    }

    /// Scores the rows of consecutive groups (a session's candidates each, `groups` their
    /// sizes) into `out`. With `early` and the stages
    /// [`prepare_early_exit`](Self::prepare_early_exit) laid out for its tree count, only
    /// the `keep` best rows of each group on the first trees are scored on the rest: they
    /// get [`score_rows`](Self::score_rows)' scores bit for bit, the others
    /// `f64::NEG_INFINITY`. Otherwise every row is scored as by `score_rows`.
    pub fn score_groups(
        &self,
        rows: &[f32],
        groups: &[usize],
        early: Option<EarlyExit>,
        out: &mut Vec<f64>,
    ) {
        let width = self.feature_names.len();
        debug_assert_eq!(groups.iter().sum::<usize>() * width, rows.len());
        let (keep, stages) = match (early, &self.stages) {
            (Some(e), Some(stages))
                if stages.trees == e.trees && groups.iter().any(|&n| n > e.keep) =>
            {
                (e.keep, stages)
            }
            _ => return self.score_rows(rows, out),
        };
        let quick = stages.quick.as_ref().filter(|_| QuickScorer::available());
        out.clear();
        out.resize(rows.len() / width, 0.0);
        match quick {
            Some((head, _)) => head.raw_scores_with(head.fastest(), rows, out),
            None => self.walk_add(&self.trees[..stages.trees], rows, out),
        }
        self.finish_early_exit(rows, groups, keep, stages, out);
    }

    /// The second stage of an early exit, `out` holding every row's raw sum on the first
    /// `stages.trees` trees: each group's `keep` best rows get the full model's scores, the
    /// others `f64::NEG_INFINITY`.
    fn finish_early_exit(
        &self,
        rows: &[f32],
        groups: &[usize],
        keep: usize,
        stages: &Stages,
        out: &mut [f64],
    ) {
        let width = self.feature_names.len();
        let quick = stages.quick.as_ref().filter(|_| QuickScorer::available());
        // Each group's best `keep` on the first stage (ties: the earlier row), in row order.
        let mut chosen = Vec::with_capacity(groups.len() * keep);
        let mut first = 0;
        for &n in groups {
            let group = first..first + n;
            if n <= keep {
                chosen.extend(group);
            } else {
                let mut order: Vec<usize> = group.collect();
                let by_score = |&a: &usize, &b: &usize| out[b].total_cmp(&out[a]).then(a.cmp(&b));
                order.select_nth_unstable_by(keep - 1, by_score);
                order.truncate(keep);
                order.sort_unstable();
                chosen.extend(order);
            }
            first += n;
        }
        let mut picked = Vec::with_capacity(chosen.len() * width);
        let mut sums = Vec::with_capacity(chosen.len());
        for &i in &chosen {
            picked.extend_from_slice(&rows[i * width..][..width]);
            sums.push(out[i]);
        }
        match quick {
            Some((_, tail)) => tail.raw_scores_with(tail.fastest(), &picked, &mut sums),
            None => self.walk_add(&self.trees[stages.trees..], &picked, &mut sums),
        }
        out.fill(f64::NEG_INFINITY);
        for (&i, &sum) in chosen.iter().zip(&sums) {
            out[i] = self.transform(sum);
        }
    }

    /// Adds the leaves of `trees` to each row's sum in `out`, in tree order, walking groups
    /// of rows through each tree together.
    fn walk_add(&self, trees: &[Tree], rows: &[f32], out: &mut [f64]) {
        let width = self.feature_names.len();
        let all: Vec<&[f32]> = rows.chunks_exact(width).collect();
        for (group, sums) in all.chunks(LANES).zip(out.chunks_mut(LANES)) {
            for tree in trees {
                if tree.has_zero_missing {
                    for (sum, row) in sums.iter_mut().zip(group) {
                        *sum += tree.leaf(row);
                    }
                } else {
                    tree.add_leaves(group, sums);
                }
            }
        }
    }

    /// Raw sums by a QuickScorer kernel, or by the walk without one, then the model's
    /// transform.
    fn score_rows_with(
        &self,
        quick: Option<(&QuickScorer, Kernel)>,
        rows: &[f32],
        out: &mut Vec<f64>,
    ) {
        let width = self.feature_names.len();
        out.clear();
        out.resize(rows.len() / width, 0.0);
        match quick {
            Some((quick, kernel)) => quick.raw_scores_with(kernel, rows, out),
            None => self.walk_add(&self.trees, rows, out),
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
        let missing = FEATURE_NAMES
            .iter()
            .filter(|f| !self.feature_names.iter().any(|n| n == *f))
            .map(|f| f.to_string())
            .collect();
        let unknown = self
            .feature_names
            .iter()
            .filter(|n| !FEATURE_NAMES.contains(&n.as_str()))
            .cloned()
            .collect();
        Err(ModelError::FeatureMismatch {
            found: self.feature_names.len(),
            expected: NUM_FEATURES,
            missing,
            unknown,
        })
    }
}

/// A model for each objective that had enough labelled examples to fit one (indexed by
/// [`EventType::index`]); an objective without one is ranked by the heuristic. A log of
/// clicks only, as most public session logs are, has a clicks model alone.
#[derive(Clone, Debug)]
pub struct Rankers {
    models: [Option<TreeModel>; 3],
    /// The models' trees in one QuickScorer layout, when there are several and all fit.
    joint: Option<Box<Joint>>,
}

/// Several models in one QuickScorer layout (a part per model, in [`EventType`] order):
/// scoring the same candidate rows for every objective loads and scans each feature once
/// instead of once per model, and the per-feature work is most of a pass's cost.
#[derive(Clone, Debug)]
struct Joint {
    /// Every tree of every model.
    full: QuickScorer,
    /// After [`Rankers::prepare_early_exit`]: the number of first-stage trees, and the
    /// first stage of every model (all the trees of a model that has no more).
    head: Option<(usize, QuickScorer)>,
}

impl Rankers {
    /// The rankers of the objectives that have a model (indexed by [`EventType::index`]).
    pub fn new(models: [Option<TreeModel>; 3]) -> Self {
        let trees: Vec<&[Tree]> = models.iter().flatten().map(|m| &m.trees[..]).collect();
        let joint = Self::layout(&models, &trees).map(|full| Box::new(Joint { full, head: None }));
        Rankers { models, joint }
    }

    /// One QuickScorer layout of `parts` when there are several models and every model
    /// fits QuickScorer over rows of the same width.
    fn layout(models: &[Option<TreeModel>; 3], parts: &[&[Tree]]) -> Option<QuickScorer> {
        let mut present = models.iter().flatten();
        let width = present.next()?.feature_names.len();
        let same = present.all(|m| m.feature_names.len() == width);
        let fit = models.iter().flatten().all(|m| m.quick.is_some());
        (parts.len() > 1 && same && fit)
            .then(|| QuickScorer::joint(parts, width))
            .flatten()
    }

    /// Scores the rows of consecutive groups for every objective that has a model, into
    /// `outs` (indexed by [`EventType::index`]): each as its model's
    /// [`score_groups`](TreeModel::score_groups) would, bit for bit, with the models
    /// laid out together when they can be.
    pub fn score_groups(
        &self,
        rows: &[f32],
        groups: &[usize],
        early: Option<EarlyExit>,
        outs: &mut [Vec<f64>; 3],
    ) {
        let Some(joint) = self.joint.as_deref().filter(|_| QuickScorer::available()) else {
            for (model, out) in self.models.iter().zip(outs.iter_mut()) {
                if let Some(model) = model {
                    model.score_groups(rows, groups, early, out);
                }
            }
            return;
        };
        // The early exit applies when it would for each model alone: the stages are laid
        // out for its tree count and some group has more rows than it keeps.
        let exit = early
            .filter(|e| groups.iter().any(|&n| n > e.keep))
            .and_then(|e| match &joint.head {
                Some((trees, head)) if *trees == e.trees => Some((e.keep, head)),
                _ => None,
            });
        let layout = exit.map_or(&joint.full, |(_, head)| head);
        let n = groups.iter().sum::<usize>();
        let mut sums: Vec<&mut [f64]> = self
            .models
            .iter()
            .zip(outs.iter_mut())
            .filter(|(model, _)| model.is_some())
            .map(|(_, out)| {
                out.clear();
                out.resize(n, 0.0);
                &mut out[..]
            })
            .collect();
        layout.raw_scores_parts(layout.fastest(), rows, &mut sums);
        for (model, out) in self.models.iter().zip(outs.iter_mut()) {
            let Some(model) = model else { continue };
            match (exit, &model.stages) {
                (Some((keep, _)), Some(stages)) => {
                    model.finish_early_exit(rows, groups, keep, stages, out);
                }
                _ => {
                    for v in out.iter_mut() {
                        *v = model.transform(*v);
                    }
                }
            }
        }
    }

    /// The model of `objective`, when it has one.
    pub fn model(&self, objective: EventType) -> Option<&TreeModel> {
        self.models[objective.index()].as_ref()
    }

    /// Lays out every model for an [`EarlyExit`] after `trees` trees
    /// ([`TreeModel::prepare_early_exit`]).
    pub fn prepare_early_exit(&mut self, trees: usize) {
        for model in self.models.iter_mut().flatten() {
            model.prepare_early_exit(trees);
        }
        let heads: Vec<&[Tree]> = self
            .models
            .iter()
            .flatten()
            .map(|m| &m.trees[..m.stages.as_ref().map_or(m.trees.len(), |s| s.trees)])
            .collect();
        let head = (trees > 0)
            .then(|| Self::layout(&self.models, &heads))
            .flatten()
            .map(|head| (trees, head));
        if let Some(joint) = &mut self.joint {
            joint.head = head;
        }
    }

    /// The objectives that have a model, in [`EventType`] order.
    pub fn objectives(&self) -> Vec<EventType> {
        EventType::ALL
            .into_iter()
            .filter(|&o| self.model(o).is_some())
            .collect()
    }
}

// The evaluator is tested against models LightGBM fits, and against LightGBM's own predictions.
#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;
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
            let signal = r[3].max(0.0)
                + if r[10].is_nan() { 1.5 } else { -r[10] }
                + 0.5 * rng.normal() as f32;
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
}
