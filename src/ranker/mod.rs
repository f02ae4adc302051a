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
//!
//! The parts: `parse` reads the text format (and checks the features), `tree` holds a tree
//! and its walk, `quickscorer` the bit-vector layout and its kernels, `early_exit` the
//! two-stage scoring of a session's candidates; this module holds a model and the rankers
//! of all objectives, laid out together when they can be.

mod early_exit;
mod parse;
mod quickscorer;
#[cfg(all(test, feature = "train"))]
mod tests;
mod tree;

pub use self::early_exit::EarlyExit;
use self::early_exit::Stages;
pub use self::parse::ModelError;
pub use self::quickscorer::Kernel;
use self::quickscorer::QuickScorer;
use self::tree::{LANES, Tree};
use crate::domain::EventType;

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

impl TreeModel {
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

    /// Scores many rows (row-major, [`NUM_FEATURES`](crate::features::NUM_FEATURES) each) into `out`: with QuickScorer
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
