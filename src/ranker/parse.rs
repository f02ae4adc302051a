//! LightGBM's text model format read into a [`TreeModel`]: the header (objective, feature
//! names), each tree's arrays checked against each other, and the features checked against
//! this otto-rec's.

use std::collections::HashMap;

use super::TreeModel;
use super::quickscorer::QuickScorer;
use super::tree::{Node, Tree, f32_at_most};
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
        let mut header = HashMap::new();
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
        let mut block: HashMap<String, String> = HashMap::new();
        let mut flush = |block: &mut HashMap<String, String>| -> Result<(), ModelError> {
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

    fn parse_tree(
        block: &HashMap<String, String>,
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
