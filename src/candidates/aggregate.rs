//! A session's aggregates by candidate aid: an open-addressing map from aid to position
//! and the aggregates in first-seen order, filled once per session and source.

use crate::domain::best_first;

/// Positions of aids in a list, by open addressing: a power-of-two table of (aid,
/// position + 1) pairs at most half full, probed linearly from a multiplicative hash. Built
/// once per session and source and never shrunk, it does one probe where a general map
/// does a group search, and its pairs sit together in one allocation.
#[derive(Clone, Debug, Default)]
pub(super) struct AidSlots {
    /// (aid, position + 1); position + 1 = 0 marks a free slot (every aid, u32::MAX
    /// included, is a key; positions stay below the table's length).
    table: Vec<(u32, u32)>,
    /// 32 − log2(table length): the hash's top bits index the table.
    shift: u32,
}

impl AidSlots {
    /// Room for `n` aids without growing.
    pub(super) fn with_capacity(n: usize) -> Self {
        let len = (2 * n).max(8).next_power_of_two();
        AidSlots {
            table: vec![(0, 0); len],
            shift: 32 - len.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, aid: u32) -> usize {
        (aid.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// Where `aid` is: `Ok(its position)`, or `Err(the free slot it would take)`. The
    /// table must not be empty.
    #[inline(always)]
    fn find(&self, aid: u32) -> Result<u32, usize> {
        let mask = self.table.len() - 1;
        let mut i = self.home(aid);
        loop {
            let (k, v) = self.table[i];
            if v == 0 {
                return Err(i);
            }
            if k == aid {
                return Ok(v - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// The position of `aid`, if it has one.
    #[inline]
    pub(super) fn get(&self, aid: u32) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        self.find(aid).ok()
    }

    /// The position of `aid`, given `next` (and the table grown) if it has none; and
    /// whether it is new.
    #[inline(always)]
    pub(super) fn get_or_insert(&mut self, aid: u32, next: u32) -> (u32, bool) {
        if 2 * (next as usize + 1) > self.table.len() {
            self.grow();
        }
        match self.find(aid) {
            Ok(position) => (position, false),
            Err(slot) => {
                self.table[slot] = (aid, next + 1);
                (next, true)
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.table);
        *self = AidSlots::with_capacity(old.len().max(4));
        for (k, v) in old.into_iter().filter(|&(_, v)| v != 0) {
            self.get_or_insert(k, v - 1);
        }
    }
}

/// One source's aggregates by candidate aid (a table's weights, by default), kept in
/// first-seen order (for deterministic iteration) with a map from aid to position.
#[derive(Clone, Debug, Default)]
pub struct TableAgg<A> {
    pub(super) aggs: Vec<(u32, A)>,
    slot: AidSlots,
}

impl<A: Default> TableAgg<A> {
    /// Room for `n` distinct aids, so neither the map nor the list grows while filled.
    pub(super) fn with_capacity(n: usize) -> Self {
        TableAgg {
            aggs: Vec::with_capacity(n),
            slot: AidSlots::with_capacity(n),
        }
    }

    /// The aggregate of `aid`, if a source listed it.
    pub fn get(&self, aid: u32) -> Option<&A> {
        self.slot.get(aid).map(|i| &self.aggs[i as usize].1)
    }

    pub(super) fn get_mut(&mut self, aid: u32) -> Option<&mut A> {
        self.slot.get(aid).map(|i| &mut self.aggs[i as usize].1)
    }

    /// The aggregate of `aid`, added empty if it is new.
    #[inline]
    pub(super) fn entry(&mut self, aid: u32) -> &mut A {
        let (i, new) = self.slot.get_or_insert(aid, self.aggs.len() as u32);
        if new {
            self.aggs.push((aid, A::default()));
        }
        &mut self.aggs[i as usize].1
    }

    /// Offers the `n` aids of highest `key` as list `list` of a source, best first
    /// (ties keep first-seen order): `offer(list, rank, aid)`.
    pub(super) fn offer_best(
        &self,
        n: usize,
        key: impl Fn(&A) -> f32,
        list: usize,
        offer: &mut impl FnMut(usize, usize, u32),
    ) {
        for (rank, aid) in self.best(n, key).into_iter().enumerate() {
            offer(list, rank, aid);
        }
    }

    /// The `n` aids of highest `key`, best first; ties keep first-seen order.
    pub fn best(&self, n: usize, key: impl Fn(&A) -> f32) -> Vec<u32> {
        best_first(self.aggs.iter().map(|(_, agg)| key(agg)), n)
            .into_iter()
            .map(|i| self.aggs[i as usize].0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rustc_hash::FxHashMap;

    use super::*;

    #[test]
    fn aid_slots_agree_with_a_map_through_growth() {
        // Sized for 4, filled with 1,000 aids (multiples of 1024 share their low bits, the
        // rest are spread): every aid keeps its first position, absent aids are absent.
        let mut slots = AidSlots::with_capacity(4);
        let mut map = FxHashMap::default();
        // The top of u32 is an aid like any other.
        let aids = (0..500u32)
            .map(|i| i * 1024)
            .chain((0..500).map(|i| i * 7 + 3))
            .chain([u32::MAX, 0, u32::MAX - 1]);
        for (next, aid) in aids.enumerate() {
            let (got, new) = slots.get_or_insert(aid, next as u32);
            let want = *map.entry(aid).or_insert(next as u32);
            assert_eq!((got, new), (want, want == next as u32), "aid {aid}");
        }
        for aid in (0..10_000u32).chain(u32::MAX - 3..=u32::MAX) {
            assert_eq!(slots.get(aid), map.get(&aid).copied(), "aid {aid}");
        }
        assert_eq!(AidSlots::default().get(7), None);
        assert_eq!(AidSlots::with_capacity(4).get(u32::MAX), None);
        assert!(slots.table.len() >= 2 * map.len());
    }
}
