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
//! the walk's. When every tree has at most 32 leaves (LightGBM's default is 31), the leaf
//! masks are 32 bits: a tree's 16 lanes fill one register, which halves the memory each
//! applied split reads and writes ([`Kernel::Narrow`]), and up to [`MAX_BLOCKS`] blocks of
//! 16 rows share one scan, so a feature's gather, NaN test and exit are paid once per 64
//! rows.

use std::cell::RefCell;

use super::Tree;

/// Rows in a block: 16 f32 fill one 512-bit register.
pub const LANES: usize = 16;

/// Blocks of rows that go through one scan together with 32-bit leaf masks.
const MAX_BLOCKS: usize = 4;

/// Splits on a feature from which its scan exits on a compare with the pass's largest
/// value (a horizontal reduction per feature, then one scalar compare per split) instead
/// of testing the blocks' fail masks (four mask instructions per split): below this, the
/// reduction's latency costs more than the mask tests it saves (BENCHMARKS.md).
const LONG_SCAN: u32 = 16;

/// A model's splits in QuickScorer's layout.
#[derive(Clone, Debug)]
pub struct QuickScorer {
    width: usize,
    /// Per feature, the range of its distinct thresholds in `thresholds` (ascending).
    starts: Vec<u32>,
    thresholds: Vec<f32>,
    /// Per distinct threshold, the range of its splits in `splits`: in the scalar kernel,
    /// splits of several trees that share a threshold (LightGBM's bin bounds) share one
    /// compare.
    groups: Vec<u32>,
    /// Every split, by feature then ascending threshold, each feature's list closed by a
    /// [`SENTINEL`]. The vectorised kernels scan a feature's splits with one compare each:
    /// a compare costs one instruction, while a loop over each threshold's group (of
    /// varying length) costs a mispredicted branch often enough to make them 10–30 %
    /// slower (BENCHMARKS.md). The sentinel, which no value fails, ends every scan, so the
    /// loop has no bound to check.
    splits: Vec<FlatSplit>,
    /// Per feature, the range in `nan_offsets`/`nan_masks` of the trees with a split on it
    /// that sends NaN right (as [`FlatSplit::offset`]), with the AND of those splits' masks.
    nan_starts: Vec<u32>,
    nan_offsets: Vec<u32>,
    nan_masks: Vec<u64>,
    /// The features some split reads (the kernel loads no others), each with whether it
    /// has at least [`LONG_SCAN`] splits: its scan then exits on the pass's largest value
    /// (see `pass_avx512`).
    used: Vec<(u32, bool)>,
    /// Per tree, where its leaves (left to right) start in `leaf_values`.
    leaf_starts: Vec<u32>,
    /// Where each part's trees start, and the tree count last: a layout of several models
    /// (or stages) scans each feature once for all of them and sums each part's leaves
    /// into a score of its own.
    parts: Vec<u32>,
    leaf_values: Vec<f64>,
    /// True when every tree has at most 32 leaves (LightGBM's default is 31): its leaf
    /// bits are the masks' low 32 bits, and a block's 16 leaf masks of a tree fill one
    /// register instead of two, halving the memory each applied split reads and writes.
    narrow: bool,
}

/// The implementations of QuickScorer's scan; all give the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// One lane at a time: the specification.
    Portable,
    /// AVX-512, 64-bit leaf masks (trees of up to 64 leaves).
    Wide,
    /// AVX-512, 32-bit leaf masks (trees of up to 32 leaves).
    Narrow,
}

impl Kernel {
    /// Every kernel, fastest first.
    const FASTEST_FIRST: [Kernel; 3] = [Kernel::Narrow, Kernel::Wide, Kernel::Portable];
}

/// A split as the kernels read it: its threshold, where its tree's leaf masks are, and the
/// leaves still possible when its test fails.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct FlatSplit {
    threshold: f32,
    /// The tree's number times [`TREE_BYTES`]: the byte offset of its 16 leaf masks with
    /// 32-bit masks, half of it with 64-bit masks (the kernels scale it, with no
    /// instruction of their own).
    offset: u32,
    mask: u64,
}

/// The bytes of one tree's 16 lanes of 32-bit leaf masks (one 512-bit register).
const TREE_BYTES: u32 = 64;

/// Closes each feature's list of splits: `x > +inf` is false for every value and NaN, and
/// its mask keeps every leaf.
const SENTINEL: FlatSplit = FlatSplit {
    threshold: f32::INFINITY,
    offset: 0,
    mask: u64::MAX,
};

impl FlatSplit {
    fn tree(&self) -> usize {
        (self.offset / TREE_BYTES) as usize
    }
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
        Self::joint(&[trees], width)
    }

    /// One layout of several ensembles (`parts`, e.g. one model per objective) over the
    /// same rows: every feature is loaded and scanned once for all of them, and
    /// [`raw_scores_parts`](Self::raw_scores_parts) gives each part's sums exactly as a
    /// layout of that part alone would. `None` when a tree does not fit.
    pub(super) fn joint(parts: &[&[Tree]], width: usize) -> Option<Self> {
        let trees: Vec<&Tree> = parts.iter().flat_map(|p| p.iter()).collect();
        if trees.len() >= (u32::MAX / TREE_BYTES) as usize
            || trees
                .iter()
                .any(|t| t.leaves.len() > 64 || t.has_zero_missing)
        {
            return None;
        }
        let mut bounds = vec![0u32];
        for part in parts {
            bounds.push(bounds.last().expect("starts at 0") + part.len() as u32);
        }
        let mut splits = Vec::new();
        let mut leaf_starts = Vec::with_capacity(trees.len());
        let mut leaf_values = Vec::new();
        for (h, &tree) in trees.iter().enumerate() {
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
                .then(a.tree.cmp(&b.tree))
        });
        // Every split's feature is below the width (checked at parse).
        if splits.iter().any(|s| s.feature as usize >= width) {
            return None;
        }
        let mut q = QuickScorer {
            width,
            starts: Vec::with_capacity(width + 1),
            thresholds: Vec::new(),
            groups: Vec::new(),
            splits: Vec::with_capacity(splits.len()),
            nan_starts: Vec::with_capacity(width + 1),
            nan_offsets: Vec::new(),
            nan_masks: Vec::new(),
            used: Vec::new(),
            leaf_starts,
            parts: bounds,
            leaf_values,
            narrow: trees.iter().all(|t| t.leaves.len() <= 32),
        };
        let mut at = 0;
        let mut nan: Vec<(u32, u64)> = Vec::new();
        for f in 0..width {
            q.starts.push(q.thresholds.len() as u32);
            q.nan_starts.push(q.nan_offsets.len() as u32);
            nan.clear();
            while at < splits.len() && splits[at].feature as usize == f {
                let s = &splits[at];
                let same = at > 0
                    && splits[at - 1].feature == s.feature
                    && splits[at - 1].threshold.to_bits() == s.threshold.to_bits();
                if !same {
                    q.thresholds.push(s.threshold);
                    q.groups.push(q.splits.len() as u32);
                }
                q.splits.push(FlatSplit {
                    threshold: s.threshold,
                    offset: s.tree * TREE_BYTES,
                    mask: s.mask,
                });
                if s.nan_right {
                    nan.push((s.tree * TREE_BYTES, s.mask));
                }
                at += 1;
            }
            if q.starts.last() != Some(&(q.thresholds.len() as u32)) {
                // The sentinel is a threshold of its own, above every other: the scalar
                // kernel stops before it.
                q.thresholds.push(SENTINEL.threshold);
                q.groups.push(q.splits.len() as u32);
                q.splits.push(SENTINEL);
            }
            // A NaN fails every NaN-right split on the feature at once: one AND per tree.
            nan.sort_unstable_by_key(|&(offset, _)| offset);
            let first = q.nan_offsets.len();
            for &(offset, mask) in &nan {
                if q.nan_offsets.len() > first && q.nan_offsets.last() == Some(&offset) {
                    *q.nan_masks.last_mut().expect("pushed") &= mask;
                } else {
                    q.nan_offsets.push(offset);
                    q.nan_masks.push(mask);
                }
            }
        }
        q.starts.push(q.thresholds.len() as u32);
        q.groups.push(q.splits.len() as u32);
        q.nan_starts.push(q.nan_offsets.len() as u32);
        q.used = (0..width)
            .filter(|&f| q.starts[f] < q.starts[f + 1] || q.nan_starts[f] < q.nan_starts[f + 1])
            .map(|f| {
                // The feature's splits and its sentinel (none when only NaN reaches it).
                let listed = q.groups[q.starts[f + 1] as usize] - q.groups[q.starts[f] as usize];
                (f as u32, listed > LONG_SCAN)
            })
            .collect();
        Some(q)
    }

    /// The used features whose scan exits on the pass's largest value, and the others.
    #[cfg(all(test, feature = "train"))]
    pub(super) fn scan_kinds(&self) -> (usize, usize) {
        let long = self.used.iter().filter(|&&(_, long)| long).count();
        (long, self.used.len() - long)
    }

    /// True when this CPU runs the vectorised kernel (AVX-512); elsewhere the node walk is
    /// faster than QuickScorer's scalar form, which stays as the kernel's specification.
    pub(super) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512cd")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// True when `kernel` can score this model on this CPU.
    fn runs(&self, kernel: Kernel) -> bool {
        match kernel {
            Kernel::Portable => true,
            Kernel::Wide => Self::available(),
            Kernel::Narrow => Self::available() && self.narrow,
        }
    }

    /// The kernels that can score this model on this CPU, fastest first.
    pub(super) fn kernels(&self) -> Vec<Kernel> {
        Kernel::FASTEST_FIRST
            .into_iter()
            .filter(|&k| self.runs(k))
            .collect()
    }

    /// The fastest kernel that can score this model on this CPU.
    pub(super) fn fastest(&self) -> Kernel {
        Kernel::FASTEST_FIRST
            .into_iter()
            .find(|&k| self.runs(k))
            .unwrap_or(Kernel::Portable)
    }

    /// Adds the raw scores (sums of leaves) of row-major `rows` of `width` features to
    /// `out`, with `kernel`, which must be one of [`kernels`](Self::kernels). Each row's
    /// leaves are added to its value in `out` one by one in tree order, so scoring a model's
    /// trees in two parts, the second onto the first's sums, gives the one-part sums bit
    /// for bit.
    pub(super) fn raw_scores_with(&self, kernel: Kernel, rows: &[f32], out: &mut [f64]) {
        self.raw_scores_parts(kernel, rows, &mut [out]);
    }

    /// [`raw_scores_with`](Self::raw_scores_with) for a [`joint`](Self::joint) layout: part
    /// p's sums go to `outs[p]`, one per row each.
    pub(super) fn raw_scores_parts(&self, kernel: Kernel, rows: &[f32], outs: &mut [&mut [f64]]) {
        assert!(self.runs(kernel), "{kernel:?} cannot run here");
        assert_eq!(outs.len() + 1, self.parts.len(), "one output per part");
        let n = rows.len() / self.width;
        assert!(outs.iter().all(|o| o.len() == n), "one sum per row");
        match kernel {
            Kernel::Portable => self.raw_scores_portable(rows, outs),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has the features the kernel is compiled for (`runs`).
            Kernel::Wide => unsafe { self.raw_scores_avx512::<false>(rows, outs) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Narrow => unsafe { self.raw_scores_avx512::<true>(rows, outs) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Wide | Kernel::Narrow => unreachable!("`runs` is false for them"),
        }
    }

    /// The kernels with AVX-512 intrinsics: one 512-bit register holds a feature's values in
    /// a block of 16 rows, one compare gives the lanes whose test fails (`x > t`, false for
    /// NaN) as a mask, and masked ANDs update the tree's 16 leaf masks: one register of 16
    /// u32 when `NARROW` (trees of up to 32 leaves), two of 8 u64 each otherwise. The scan
    /// of a feature stops at the first split no lane fails: the first threshold at or above
    /// the pass's largest value, a scalar compare per split. Leaves: the lowest set bit of
    /// each lane's mask (isolated, then counted with `lzcnt`) indexes a gather of the tree's
    /// leaf values, added lane by lane in tree order, as the scalar kernel adds them.
    ///
    /// With 32-bit masks, up to [`MAX_BLOCKS`] blocks (64 rows) go through each scan
    /// together: one split record updates the tree's register of each block, and a
    /// feature's scan, whose data-dependent exit branch is mispredicted about once per
    /// feature, runs once for up to 64 rows instead of once per 16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512cd")]
    fn raw_scores_avx512<const NARROW: bool>(&self, rows: &[f32], outs: &mut [&mut [f64]]) {
        assert!(!NARROW || self.narrow, "a tree has more than 32 leaves");
        thread_local! {
            /// A pass's leaf masks, kept between calls (every pass sets the registers it
            /// reads): room for a pass's registers per tree, one per block of 32-bit masks
            /// or two for 16 rows of 64-bit ones. One cache line per register: a load or
            /// store that straddles two lines costs two accesses, and a store forwards to a
            /// later load only when neither straddles.
            static BITS: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
        }
        BITS.with_borrow_mut(|bits| {
            let need = self.leaf_starts.len() * MAX_BLOCKS;
            if bits.len() < need {
                bits.resize(need, Line([u64::MAX; 8]));
            }
            // SAFETY: as this function's.
            unsafe { self.passes_avx512::<NARROW>(rows, outs, bits) }
        });
    }

    /// [`raw_scores_avx512`](Self::raw_scores_avx512) with `bits` of `MAX_BLOCKS`
    /// registers per tree.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and CD.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512cd")]
    unsafe fn passes_avx512<const NARROW: bool>(
        &self,
        rows: &[f32],
        outs: &mut [&mut [f64]],
        bits: &mut [Line],
    ) {
        debug_assert!(bits.len() >= self.leaf_starts.len() * MAX_BLOCKS);
        let n = rows.len() / self.width;
        let mut first = 0;
        while first < n {
            let left = n - first;
            // 32-bit masks: as many blocks as the rows left fill, up to `MAX_BLOCKS`.
            let blocks = if NARROW {
                left.div_ceil(LANES).min(MAX_BLOCKS)
            } else {
                1
            };
            let (at, count) = (first, left.min(blocks * LANES));
            first += count;
            // SAFETY: the CPU has the kernel's features (the caller's contract); `bits`
            // holds `MAX_BLOCKS` registers per tree; the rows cover the outputs.
            unsafe {
                match blocks {
                    1 => self.pass_avx512::<NARROW, 1>(rows, at, count, outs, bits),
                    2 => self.pass_avx512::<true, 2>(rows, at, count, outs, bits),
                    3 => self.pass_avx512::<true, 3>(rows, at, count, outs, bits),
                    _ => self.pass_avx512::<true, 4>(rows, at, count, outs, bits),
                }
            }
        }
    }

    /// Scores rows `first..first + count` (more than `BLOCKS - 1` blocks of 16, at most
    /// `BLOCKS`) into each part's output: block b is rows `first + 16 b..` and its leaf
    /// masks are the tree's register b (`NARROW`); with 64-bit masks (`BLOCKS` = 1) the
    /// tree's two registers are lanes 0–7 and 8–15.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and CD; `bits` must hold `BLOCKS` registers per tree
    /// with 32-bit masks, two with 64-bit ones.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512cd")]
    unsafe fn pass_avx512<const NARROW: bool, const BLOCKS: usize>(
        &self,
        rows: &[f32],
        first: usize,
        count: usize,
        outs: &mut [&mut [f64]],
        bits: &mut [Line],
    ) {
        use std::arch::x86_64::*;
        let width = self.width;
        let trees = self.leaf_starts.len();
        debug_assert!(BLOCKS == 1 || NARROW);
        // Registers per tree, and bytes from one tree's masks to the next (`regs` × 64).
        let regs = if NARROW { BLOCKS } else { 2 };
        debug_assert!(count <= BLOCKS * LANES && bits.len() >= trees * regs);
        // Lane i of block b reads row 16 b + i of the pass: a feature's 16 values are one
        // gather. Lanes past the last row read the pass's first row.
        let lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(width as i32),
        );
        let offsets: [__m512i; BLOCKS] = std::array::from_fn(|b| {
            let real = count.saturating_sub(b * LANES).min(LANES);
            let shifted = _mm512_add_epi32(lanes, _mm512_set1_epi32((b * LANES * width) as i32));
            _mm512_maskz_mov_epi32(((1u32 << real) - 1) as u16, shifted)
        });
        let bp = bits.as_mut_ptr() as *mut __m512i;
        let bytes = bits.as_mut_ptr() as *mut u8;
        // Bytes of one register of leaf masks: block b's register follows block b - 1's.
        const REGISTER: usize = TREE_BYTES as usize;
        // SAFETY (all pointer reads and writes below): the pass's rows start at
        // `first * width` and every lane's offset is a row of the pass (below `count`) times
        // `width`, plus a feature below `width`; `bits` holds `regs` registers per tree, and
        // every split's offset is its tree's, below the tree count, times `TREE_BYTES`;
        // a feature's scan stops at its sentinel at the latest, and `j` stays within its
        // range of the NaN arrays; a leaf index is the tree's start plus a lowest set bit,
        // which is below the tree's leaf count (the walk's leaf is never ruled out; with
        // `NARROW` every tree has at most 32).
        unsafe {
            let all_ones = _mm512_set1_epi64(-1);
            for t in 0..trees * regs {
                _mm512_storeu_si512(bp.add(t), all_ones);
            }
            let base = rows.as_ptr().add(first * width);
            for &(f, long) in &self.used {
                let f = f as usize;
                let x: [__m512; BLOCKS] =
                    std::array::from_fn(|b| _mm512_i32gather_ps::<4>(offsets[b], base.add(f)));
                // The feature's splits, by ascending threshold, up to its sentinel.
                let mut split = self
                    .splits
                    .as_ptr()
                    .add(*self.groups.get_unchecked(self.starts[f] as usize) as usize);
                let nan: [__mmask16; BLOCKS] =
                    std::array::from_fn(|b| _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x[b], x[b]));
                if long {
                    // Some lane fails a split exactly when its threshold is below the
                    // largest value (NaN fails none): one scalar compare ends the scan,
                    // where testing the lanes' fail masks for any set bit takes a mask
                    // instruction per block on the ports the compares and ANDs need.
                    let largest = x.iter().zip(&nan).fold(
                        _mm512_set1_ps(f32::NEG_INFINITY),
                        |largest, (&x, &nan)| {
                            _mm512_max_ps(largest, _mm512_mask_mov_ps(x, nan, largest))
                        },
                    );
                    let largest = _mm512_reduce_max_ps(largest);
                    while (*split).threshold < largest {
                        let threshold = _mm512_set1_ps((*split).threshold);
                        let p = bytes.add((*split).offset as usize * regs);
                        for (b, &x) in x.iter().enumerate() {
                            let fails = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, threshold);
                            and_masks::<NARROW>(p.add(b * REGISTER).cast(), fails, (*split).mask);
                        }
                        split = split.add(1);
                    }
                } else {
                    loop {
                        let threshold = _mm512_set1_ps((*split).threshold);
                        let fails: [__mmask16; BLOCKS] = std::array::from_fn(|b| {
                            _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x[b], threshold)
                        });
                        if fails.iter().fold(0, |any, &m| any | m) == 0 {
                            break;
                        }
                        let p = bytes.add((*split).offset as usize * regs);
                        for (b, &m) in fails.iter().enumerate() {
                            and_masks::<NARROW>(p.add(b * REGISTER).cast(), m, (*split).mask);
                        }
                        split = split.add(1);
                    }
                }
                if nan.iter().fold(0, |any, &m| any | m) != 0 {
                    let (start, end) =
                        (self.nan_starts[f] as usize, self.nan_starts[f + 1] as usize);
                    for j in start..end {
                        let p = bytes.add(*self.nan_offsets.get_unchecked(j) as usize * regs);
                        let mask = *self.nan_masks.get_unchecked(j);
                        for (b, &m) in nan.iter().enumerate() {
                            and_masks::<NARROW>(p.add(b * REGISTER).cast(), m, mask);
                        }
                    }
                }
            }
            // Each part's trees add to its own sums. Each lane's sum continues from its
            // value in the part's output (lanes past the last row start at zero and are
            // dropped).
            for (part, out) in self.parts.windows(2).zip(outs.iter_mut()) {
                let sums = &mut out[first..][..count];
                let mut pass_sums = [0f64; MAX_BLOCKS * LANES];
                pass_sums[..count].copy_from_slice(sums);
                let mut acc: [[__m512d; 2]; BLOCKS] = std::array::from_fn(|b| {
                    let at = pass_sums.as_ptr().add(b * LANES);
                    [_mm512_loadu_pd(at), _mm512_loadu_pd(at.add(8))]
                });
                for h in part[0] as usize..part[1] as usize {
                    let start = *self.leaf_starts.get_unchecked(h);
                    let base = self.leaf_values.as_ptr().add(start as usize);
                    for (b, acc) in acc.iter_mut().enumerate() {
                        let (lo, hi) = leaf_values::<NARROW>(bp.add(h * regs + b), base);
                        acc[0] = _mm512_add_pd(acc[0], lo);
                        acc[1] = _mm512_add_pd(acc[1], hi);
                    }
                }
                for (b, acc) in acc.iter().enumerate() {
                    _mm512_storeu_pd(pass_sums.as_mut_ptr().add(b * LANES), acc[0]);
                    _mm512_storeu_pd(pass_sums.as_mut_ptr().add(b * LANES + 8), acc[1]);
                }
                sums.copy_from_slice(&pass_sums[..count]);
            }
        }
    }

    /// Writes rows `first..first + count` feature-major into `xs` (the values of feature f
    /// at `xs[f * LANES..][..LANES]`); a short block repeats its first row in the unused
    /// lanes.
    #[inline(always)]
    fn transpose(&self, rows: &[f32], first: usize, count: usize, xs: &mut [f32]) {
        let width = self.width;
        for lane in 0..LANES {
            let r = first + if lane < count { lane } else { 0 };
            let row = &rows[r * width..][..width];
            for (f, &value) in row.iter().enumerate() {
                xs[f * LANES + lane] = value;
            }
        }
    }

    /// The scalar kernel: the algorithm as written in the papers, one lane at a time; the
    /// specification the vectorised kernel is tested against.
    fn raw_scores_portable(&self, rows: &[f32], outs: &mut [&mut [f64]]) {
        let width = self.width;
        let n = rows.len() / width;
        let mut xs = vec![0f32; width * LANES];
        let mut bits = vec![0u64; self.leaf_starts.len() * LANES];
        let mut block_sums = vec![[0f64; LANES]; outs.len()];
        for first in (0..n).step_by(LANES) {
            let count = (n - first).min(LANES);
            self.transpose(rows, first, count, &mut xs);
            for (sums, out) in block_sums.iter_mut().zip(outs.iter()) {
                *sums = [0.0; LANES];
                sums[..count].copy_from_slice(&out[first..][..count]);
            }
            self.score_block(&xs, &mut bits, &mut block_sums);
            for (sums, out) in block_sums.iter().zip(outs.iter_mut()) {
                out[first..][..count].copy_from_slice(&sums[..count]);
            }
        }
    }

    /// Scores one block of rows (`xs` feature-major), adding part p's leaves to `sums[p]`.
    fn score_block(&self, xs: &[f32], bits: &mut [u64], sums: &mut [[f64; LANES]]) {
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
            for d in start..end {
                let t = self.thresholds[d];
                // Sorted: from here on no lane's value is above the threshold.
                if t >= max {
                    break;
                }
                for j in self.groups[d] as usize..self.groups[d + 1] as usize {
                    let split = self.splits[j];
                    let (tree, mask) = (split.tree(), split.mask);
                    let v = &mut bits[tree * LANES..][..LANES];
                    for lane in 0..LANES {
                        v[lane] &= if x[lane] > t { mask } else { u64::MAX };
                    }
                }
            }
            if nan {
                let (start, end) = (self.nan_starts[f] as usize, self.nan_starts[f + 1] as usize);
                for j in start..end {
                    let tree = (self.nan_offsets[j] / TREE_BYTES) as usize;
                    let mask = self.nan_masks[j];
                    let v = &mut bits[tree * LANES..][..LANES];
                    for lane in 0..LANES {
                        v[lane] &= if x[lane].is_nan() { mask } else { u64::MAX };
                    }
                }
            }
        }
        for (part, sums) in self.parts.windows(2).zip(sums.iter_mut()) {
            for h in part[0] as usize..part[1] as usize {
                let v = &bits[h * LANES..][..LANES];
                let leaves = &self.leaf_values[self.leaf_starts[h] as usize..];
                for lane in 0..LANES {
                    // The leaf the walk reaches is never ruled out, so a bit below the
                    // tree's leaf count is always set.
                    sums[lane] += leaves[v[lane].trailing_zeros() as usize];
                }
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

/// ANDs a split's leaf `mask` into the lanes `fails` selects of one tree's leaf masks at
/// `p`: 16 u32 in one register when `NARROW` (the mask's low 32 bits), else 16 u64 in two.
///
/// # Safety
/// `p` must point to one (`NARROW`) or two readable and writable `__m512i`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn and_masks<const NARROW: bool>(
    p: *mut std::arch::x86_64::__m512i,
    fails: std::arch::x86_64::__mmask16,
    mask: u64,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract.
    unsafe {
        if NARROW {
            let v = _mm512_loadu_si512(p);
            let m = _mm512_set1_epi32(mask as u32 as i32);
            _mm512_storeu_si512(p, _mm512_mask_and_epi32(v, fails, v, m));
        } else {
            let m = _mm512_set1_epi64(mask as i64);
            let lo = _mm512_loadu_si512(p);
            let hi = _mm512_loadu_si512(p.add(1));
            _mm512_storeu_si512(p, _mm512_mask_and_epi64(lo, fails as u8, lo, m));
            _mm512_storeu_si512(
                p.add(1),
                _mm512_mask_and_epi64(hi, (fails >> 8) as u8, hi, m),
            );
        }
    }
}

/// The leaf values of one tree for the 16 lanes (lanes 0–7, lanes 8–15): each lane's
/// lowest set bit of its leaf mask at `p` indexes the tree's leaves at `base`.
///
/// # Safety
/// `p` must point to one (`NARROW`) or two readable `__m512i` whose lanes each have a bit
/// set below the tree's leaf count, and `base` to the tree's leaf values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512cd")]
#[inline]
unsafe fn leaf_values<const NARROW: bool>(
    p: *const std::arch::x86_64::__m512i,
    base: *const f64,
) -> (std::arch::x86_64::__m512d, std::arch::x86_64::__m512d) {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_si512();
    // SAFETY: the caller's contract.
    unsafe {
        if NARROW {
            let v = _mm512_loadu_si512(p);
            let lowest = _mm512_and_si512(v, _mm512_sub_epi32(zero, v));
            let leaf = _mm512_sub_epi32(_mm512_set1_epi32(31), _mm512_lzcnt_epi32(lowest));
            (
                _mm512_i32gather_pd::<8>(_mm512_castsi512_si256(leaf), base),
                _mm512_i32gather_pd::<8>(_mm512_extracti64x4_epi64::<1>(leaf), base),
            )
        } else {
            let leaf = |v: __m512i| {
                let lowest = _mm512_and_si512(v, _mm512_sub_epi64(zero, v));
                _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(lowest))
            };
            (
                _mm512_i64gather_pd::<8>(leaf(_mm512_loadu_si512(p)), base),
                _mm512_i64gather_pd::<8>(leaf(_mm512_loadu_si512(p.add(1))), base),
            )
        }
    }
}

/// 64 bytes on a cache line of their own.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; 8]);
