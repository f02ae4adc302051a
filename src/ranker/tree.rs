//! A tree of a LightGBM model as one node array, and its walk: one row at a time, or
//! [`LANES`] rows through the tree together.

/// LightGBM's `kZeroThreshold`.
const ZERO_THRESHOLD: f64 = 1e-35;

/// A split, with LightGBM's missing-value rules resolved at load time.
#[derive(Clone, Debug)]
pub(super) struct Node {
    /// The largest f32 not above LightGBM's f64 threshold: for an f32 feature value `x`,
    /// `x <= threshold` exactly when LightGBM's `(double) x <= threshold`.
    pub(super) threshold: f32,
    pub(super) feature: u16,
    /// Left and right child; a negative child `c` is leaf `!c`.
    pub(super) children: [i32; 2],
    /// Where a NaN goes.
    pub(super) nan_left: bool,
    /// Missing type "zero": values within ±1e-35 go the default way.
    pub(super) zero_is_missing: bool,
    pub(super) default_left: bool,
}

impl Node {
    /// [`goes_left`](Self::goes_left) for a node without the "zero" missing type, without
    /// branches: NaN compares false, so the NaN case is selected by bit operations.
    pub(super) fn goes_left_fast(&self, value: f32) -> bool {
        let nan = value.is_nan();
        (nan & self.nan_left) | (!nan & (value <= self.threshold))
    }

    pub(super) fn goes_left(&self, value: f32) -> bool {
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
pub(super) fn f32_at_most(t: f64) -> f32 {
    let c = t as f32;
    if (c as f64) > t { c.next_down() } else { c }
}

/// A tree as one node array: the internal nodes, then one self-looping node per leaf, so
/// a walk of exactly `depth` steps ends on the row's leaf without a branch per step.
#[derive(Clone, Debug)]
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
    pub(super) leaves: Vec<f64>,
    /// Index of the first leaf node in `nodes`.
    pub(super) first_leaf: usize,
    /// Internal nodes on the longest root-to-leaf path.
    pub(super) depth: usize,
    /// Some node uses the "zero" missing type.
    pub(super) has_zero_missing: bool,
}

/// Rows walked through a tree together, so their independent walks overlap in the CPU.
pub(super) const LANES: usize = 16;

impl Tree {
    pub(super) fn from_internal(mut nodes: Vec<Node>, leaves: Vec<f64>) -> Self {
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

    pub(super) fn leaf(&self, row: &[f32]) -> f64 {
        let mut i = 0usize;
        while i < self.first_leaf {
            let node = &self.nodes[i];
            i = node.children[!node.goes_left(row[node.feature as usize]) as usize] as usize;
        }
        self.leaves[i - self.first_leaf]
    }

    /// True when a node uses the "zero" missing type (which the fast walk ignores).
    pub(super) fn has_zero_missing(&self) -> bool {
        self.nodes.iter().any(|n| n.zero_is_missing)
    }

    /// Adds this tree's output for up to [`LANES`] rows to `sums`; the tree must not use
    /// the "zero" missing type.
    pub(super) fn add_leaves(&self, rows: &[&[f32]], sums: &mut [f64]) {
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
