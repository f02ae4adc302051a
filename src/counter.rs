//! An insertion-ordered counter with Python's `Counter.most_common` semantics: highest
//! count first, ties in order of first insertion. The heuristic re-rank is defined in those
//! terms, so reproducing them exactly keeps otto-rec's lists identical to the baseline's.

use rustc_hash::FxHashMap;

/// Counts per aid, remembering the order in which aids were first seen.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    entries: Vec<(u32, f64)>,
    slots: FxHashMap<u32, u32>,
}

impl Counter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything, keeping the allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.slots.clear();
    }

    /// Adds `weight` to `aid`'s count.
    pub fn add(&mut self, aid: u32, weight: f64) {
        let next = self.entries.len() as u32;
        let slot = *self.slots.entry(aid).or_insert(next);
        if slot == next {
            self.entries.push((aid, 0.0));
        }
        self.entries[slot as usize].1 += weight;
    }

    /// Number of distinct aids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The count of `aid` (0 when never added).
    pub fn get(&self, aid: u32) -> f64 {
        self.slots
            .get(&aid)
            .map_or(0.0, |&s| self.entries[s as usize].1)
    }

    /// The `n` highest counts, ties in first-seen order.
    pub fn most_common(&self, n: usize) -> Vec<(u32, f64)> {
        let mut sorted = self.entries.clone();
        // A stable sort keeps first-seen order among equal counts.
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        sorted.truncate(n);
        sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_common_breaks_ties_by_first_insertion() {
        let mut c = Counter::new();
        for aid in [5, 3, 9, 3, 5, 7] {
            c.add(aid, 1.0);
        }
        assert_eq!(c.most_common(3), vec![(5, 2.0), (3, 2.0), (9, 1.0)]);
        assert_eq!(c.get(7), 1.0);
        assert_eq!(c.get(8), 0.0);
    }
}
