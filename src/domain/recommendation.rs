//! The output of every ranking strategy: items with scores, best first, and the selection
//! of the best scored items that every ranking shares.

/// Items and their scores, best first (scores non-increasing), no duplicates.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub aids: Vec<u32>,
    pub scores: Vec<f32>,
}

impl Recommendation {
    /// Appends an item; the caller keeps the order and uniqueness.
    pub fn push(&mut self, aid: u32, score: f32) {
        self.aids.push(aid);
        self.scores.push(score);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.aids.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.aids.is_empty()
    }
}

/// The positions of the `n` highest `scores`, best first; equal scores keep their order (as
/// a stable sort by descending score, cut to `n`, would give). Scores compare by
/// [`f32::total_cmp`].
pub fn best_first(scores: impl IntoIterator<Item = f32>, n: usize) -> Vec<u32> {
    if n == 0 {
        return Vec::new();
    }
    // One u64 per score that orders as (score descending by `total_cmp`, position
    // ascending): a strict order, so an unstable selection of the best n and an unstable
    // sort of those give the stable sort's order, in O(len + n log n) integer compares.
    let mut keys: Vec<u64> = scores
        .into_iter()
        .enumerate()
        .map(|(i, s)| (u64::from(!total_order_bits(s)) << 32) | i as u64)
        .collect();
    if n < keys.len() {
        keys.select_nth_unstable(n - 1);
        keys.truncate(n);
    }
    keys.sort_unstable();
    keys.into_iter().map(|k| k as u32).collect()
}

/// `x`'s bits as an unsigned integer that orders as [`f32::total_cmp`] orders floats.
fn total_order_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    // Negative floats: all bits flipped (larger magnitude, smaller); positive: sign set.
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_equals_a_stable_sort_cut_to_n() {
        // Few distinct values, so ties are everywhere; NaN and signed zeros included.
        let values = [
            0.5,
            -0.0,
            0.0,
            f32::NAN,
            1.0,
            -1.0,
            0.5,
            2.0,
            f32::NEG_INFINITY,
        ];
        for len in 0..60usize {
            let scores: Vec<f32> = (0..len)
                .map(|i| values[(i * 7 + len) % values.len()])
                .collect();
            let mut stable: Vec<u32> = (0..len as u32).collect();
            stable.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
            for n in [0, 1, 2, 5, 20, len, len + 3] {
                let expected = &stable[..n.min(len)];
                assert_eq!(
                    best_first(scores.iter().copied(), n),
                    expected,
                    "len {len} n {n}"
                );
            }
        }
    }
}
