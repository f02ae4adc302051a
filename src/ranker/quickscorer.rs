//! QuickScorer (Lucchese et al., SIGIR 2015), vectorised across rows (as V-QuickScorer):
//! a tree ensemble evaluated feature by feature instead of tree by tree.
//!
//! Each tree's leaves are numbered left to right; a bit vector per tree starts with every
//! leaf possible. A split whose test fails (the row goes right) rules out the leaves of its
//! left subtree: its mask has their bits cleared. All splits on a feature are sorted by
//! threshold, so the failing splits of a row are a prefix of that list: the scan ANDs masks
//! until the first threshold at or above the value. The row's leaf in a tree is then the
//! lowest bit left (the leftmost leaf no failed test ruled out is the one the walk reaches).
//! [`LANES`] rows go through the scan together, one SIMD lane each: the threshold loads,
//! the loop and the early exit are shared, and the compare-and-mask is one vector step.
//!
//! LightGBM's rules carry over exactly: a node's f32 threshold is chosen at load so that
//! `x <= threshold` is LightGBM's `(double) x <= threshold`; NaN compares false with every
//! threshold, so it never fails a scanned split, and the splits that send NaN right are
//! applied from a second list when a lane holds NaN. Trees with the "zero" missing type or
//! more than 64 leaves do not fit; a model with any such tree keeps the node walk.
//! Each row sums its trees' leaves in tree order, as the walk does: scores are bit-for-bit
//! the walk's.

use super::Tree;

/// Rows scored together: 16 f32 fill one 512-bit register.
pub const LANES: usize = 16;

/// A model's splits in QuickScorer's layout.
#[derive(Clone, Debug)]
pub struct QuickScorer {
    width: usize,
    /// Per feature, the range of its splits in the three arrays below (sorted by threshold).
    starts: Vec<u32>,
    thresholds: Vec<f32>,
    trees: Vec<u32>,
    masks: Vec<u64>,
    /// Per feature, the splits that send NaN right.
    nan_starts: Vec<u32>,
    nan_trees: Vec<u32>,
    nan_masks: Vec<u64>,
    /// Per tree, where its leaves (left to right) start in `leaf_values`.
    leaf_starts: Vec<u32>,
    leaf_values: Vec<f64>,
}

/// One split in the build.
struct Split {
    feature: u16,
    threshold: f32,
    tree: u32,
    mask: u64,
    nan_right: bool,
}

impl QuickScorer {
    /// The layout of `trees` over rows of `width` features, or `None` when a tree does not
    /// fit (more than 64 leaves, or the "zero" missing type).
    pub(super) fn new(trees: &[Tree], width: usize) -> Option<Self> {
        if trees.len() > u32::MAX as usize
            || trees
                .iter()
                .any(|t| t.leaves.len() > 64 || t.has_zero_missing)
        {
            return None;
        }
        let mut splits = Vec::new();
        let mut leaf_starts = Vec::with_capacity(trees.len());
        let mut leaf_values = Vec::new();
        for (h, tree) in trees.iter().enumerate() {
            leaf_starts.push(u32::try_from(leaf_values.len()).ok()?);
            let mut walk = Walk {
                tree,
                tree_id: h as u32,
                next_leaf: 0,
                leaf_values: &mut leaf_values,
                splits: &mut splits,
            };
            walk.visit(0);
        }
        splits.sort_by(|a, b| {
            a.feature
                .cmp(&b.feature)
                .then(a.threshold.total_cmp(&b.threshold))
        });
        let mut q = QuickScorer {
            width,
            starts: Vec::with_capacity(width + 1),
            thresholds: Vec::with_capacity(splits.len()),
            trees: Vec::with_capacity(splits.len()),
            masks: Vec::with_capacity(splits.len()),
            nan_starts: Vec::with_capacity(width + 1),
            nan_trees: Vec::new(),
            nan_masks: Vec::new(),
            leaf_starts,
            leaf_values,
        };
        let mut at = 0;
        for f in 0..width {
            q.starts.push(q.thresholds.len() as u32);
            q.nan_starts.push(q.nan_trees.len() as u32);
            while at < splits.len() && splits[at].feature as usize == f {
                let s = &splits[at];
                q.thresholds.push(s.threshold);
                q.trees.push(s.tree);
                q.masks.push(s.mask);
                if s.nan_right {
                    q.nan_trees.push(s.tree);
                    q.nan_masks.push(s.mask);
                }
                at += 1;
            }
        }
        q.starts.push(q.thresholds.len() as u32);
        q.nan_starts.push(q.nan_trees.len() as u32);
        // Every split's feature is below the width (checked at parse).
        (at == splits.len()).then_some(q)
    }

    /// Raw scores (sums of leaves) of row-major `rows` of `width` features into `out`.
    pub(super) fn raw_scores(&self, rows: &[f32], out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512cd")
            {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { self.raw_scores_avx512(rows, out) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { self.raw_scores_avx2(rows, out) };
            }
        }
        self.raw_scores_portable(rows, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512cd,avx2,bmi1,lzcnt,popcnt")]
    unsafe fn raw_scores_avx512(&self, rows: &[f32], out: &mut [f64]) {
        self.raw_scores_portable(rows, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,lzcnt,popcnt")]
    pub(super) unsafe fn raw_scores_avx2(&self, rows: &[f32], out: &mut [f64]) {
        self.raw_scores_portable(rows, out)
    }

    /// The kernel, in plain Rust that the compiler vectorises for the features of its
    /// caller.
    #[inline(always)]
    pub(super) fn raw_scores_portable(&self, rows: &[f32], out: &mut [f64]) {
        let width = self.width;
        let n = out.len();
        debug_assert_eq!(rows.len(), n * width);
        let mut xs = vec![0f32; width * LANES];
        let mut bits = vec![0u64; self.leaf_starts.len() * LANES];
        for (block, sums) in out.chunks_mut(LANES).enumerate() {
            let first = block * LANES;
            // Feature-major: the values of feature f are xs[f * LANES..][..LANES]. A short
            // last block repeats its first row in the unused lanes.
            for lane in 0..LANES {
                let r = first + if lane < sums.len() { lane } else { 0 };
                let row = &rows[r * width..][..width];
                for (f, &value) in row.iter().enumerate() {
                    xs[f * LANES + lane] = value;
                }
            }
            let mut block_sums = [0f64; LANES];
            self.score_block(&xs, &mut bits, &mut block_sums);
            sums.copy_from_slice(&block_sums[..sums.len()]);
        }
    }

    #[inline(always)]
    fn score_block(&self, xs: &[f32], bits: &mut [u64], sums: &mut [f64; LANES]) {
        bits.fill(u64::MAX);
        for f in 0..self.width {
            let x: &[f32; LANES] = xs[f * LANES..][..LANES].try_into().expect("a lane block");
            let mut max = f32::NEG_INFINITY;
            let mut nan = false;
            for &value in x {
                max = max.max(value);
                nan |= value.is_nan();
            }
            let (start, end) = (self.starts[f] as usize, self.starts[f + 1] as usize);
            for j in start..end {
                // SAFETY: `j` < `starts[width]` = the length of the three split arrays, and
                // every split's tree is below the tree count, so `tree * LANES + LANES` is
                // within `bits` (which has LANES per tree).
                let (t, tree, mask) = unsafe {
                    (
                        *self.thresholds.get_unchecked(j),
                        *self.trees.get_unchecked(j) as usize,
                        *self.masks.get_unchecked(j),
                    )
                };
                // Sorted: from here on no lane's value is above the threshold.
                if t >= max {
                    break;
                }
                let v: &mut [u64; LANES] =
                    unsafe { &mut *(bits.as_mut_ptr().add(tree * LANES) as *mut [u64; LANES]) };
                for lane in 0..LANES {
                    v[lane] &= if x[lane] > t { mask } else { u64::MAX };
                }
            }
            if nan {
                let (start, end) = (self.nan_starts[f] as usize, self.nan_starts[f + 1] as usize);
                for j in start..end {
                    let tree = self.nan_trees[j] as usize;
                    let mask = self.nan_masks[j];
                    let v = &mut bits[tree * LANES..][..LANES];
                    for lane in 0..LANES {
                        v[lane] &= if x[lane].is_nan() { mask } else { u64::MAX };
                    }
                }
            }
        }
        for (h, &start) in self.leaf_starts.iter().enumerate() {
            let v = &bits[h * LANES..][..LANES];
            let leaves = &self.leaf_values[start as usize..];
            for lane in 0..LANES {
                // The leaf the walk reaches is never ruled out, so a bit below the tree's
                // leaf count is always set.
                sums[lane] += leaves[v[lane].trailing_zeros() as usize];
            }
        }
    }
}

/// The in-order walk of one tree that numbers its leaves and makes its splits' masks.
struct Walk<'a> {
    tree: &'a Tree,
    tree_id: u32,
    next_leaf: u32,
    leaf_values: &'a mut Vec<f64>,
    splits: &'a mut Vec<Split>,
}

impl Walk<'_> {
    /// Visits node `i`; returns the range of leaf numbers below it.
    fn visit(&mut self, i: usize) -> (u32, u32) {
        if i >= self.tree.first_leaf {
            self.leaf_values
                .push(self.tree.leaves[i - self.tree.first_leaf]);
            self.next_leaf += 1;
            return (self.next_leaf - 1, self.next_leaf);
        }
        let node = &self.tree.nodes[i];
        let (lo, mid) = self.visit(node.children[0] as usize);
        let (_, hi) = self.visit(node.children[1] as usize);
        // The left subtree has fewer than 64 leaves: the right one has at least one.
        let mask = !(((1u64 << (mid - lo)) - 1) << lo);
        self.splits.push(Split {
            feature: node.feature,
            threshold: node.threshold,
            tree: self.tree_id,
            mask,
            nan_right: !node.nan_left,
        });
        (lo, hi)
    }
}
