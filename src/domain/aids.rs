//! The distinct items of a log.

use rustc_hash::FxHashSet;

/// The distinct values of `aids`, ascending, in memory that follows the number of values
/// (a bitmap when the largest is within 32 per value, a hash set otherwise).
pub fn distinct_aids(aids: &[u32]) -> Vec<u32> {
    let Some(&max) = aids.iter().max() else {
        return Vec::new();
    };
    let bound = max as usize + 1;
    if bound <= 32 * aids.len() {
        let mut bits = vec![0u64; bound.div_ceil(64)];
        for &a in aids {
            bits[a as usize / 64] |= 1 << (a % 64);
        }
        let mut out = Vec::new();
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                out.push((w * 64) as u32 + word.trailing_zeros());
                word &= word - 1;
            }
        }
        out
    } else {
        // Grown by inserts, not collected: collecting reserves room for every event.
        let mut set = FxHashSet::default();
        for &a in aids {
            set.insert(a);
        }
        let mut out: Vec<u32> = set.into_iter().collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_aids_are_the_same_by_bitmap_and_by_hash_set() {
        let dense: Vec<u32> = (0..1000).map(|i| (i * 7919) % 613).collect();
        let mut expected = dense.clone();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(distinct_aids(&dense), expected);
        let sparse: Vec<u32> = dense.iter().map(|&a| a * 1_000_003).collect();
        let expected: Vec<u32> = expected.iter().map(|&a| a * 1_000_003).collect();
        assert_eq!(distinct_aids(&sparse), expected);
    }
}
