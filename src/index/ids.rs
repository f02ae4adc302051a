//! Item ids and the positions the index stores them at.
//!
//! Real logs have sparse, large item ids (RecSys Challenge 2015's are near 2^28, others
//! anywhere in u32), while every per-item structure of the index is an array. The index
//! therefore works on *positions*: an aid's rank among the aids of the log it was built
//! from. Where the aids are already dense enough (every public OTTO-like set: aids
//! `0..n` with few gaps) the position is the aid itself, so such an index, its files and its
//! answers are exactly what they were before positions existed. Memory follows the number
//! of distinct aids, never the largest one.
//!
//! The request path converts a session's aids to positions on the way in
//! ([`ItemIds::localize`]) and the recommended positions back to aids on the way out
//! ([`Localized::restore`]); an aid the index does not know gets a position past the known
//! ones, private to its session, so it still takes part in the session's history features
//! and comes back as itself.

use rustc_hash::FxHashMap;

use crate::domain::{SessionLabels, SessionLog, distinct_aids};

/// Below this ratio of id range to distinct aids, positions are the aids themselves
/// (arrays sized by the largest aid stay within twice the distinct items).
const IDENTITY_SPREAD: usize = 2;

/// The aids an index knows and their positions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemIds {
    /// Position = aid, for aids below `bound` (some of which may not occur).
    Identity { bound: usize },
    /// The known aids, ascending; an aid's position is its rank. Ranks keep the aids'
    /// order, so "ties break by smaller aid" holds for positions as for aids.
    Sparse {
        aids: Vec<u32>,
        positions: FxHashMap<u32, u32>,
    },
}

impl Default for ItemIds {
    fn default() -> Self {
        ItemIds::Identity { bound: 0 }
    }
}

/// Why a list of aids cannot be an index's known aids.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("aids are not strictly ascending at row {row}")]
pub struct NotAscending {
    pub row: usize,
}

impl ItemIds {
    /// The ids of the aids in `aids` (any order, repeats allowed).
    pub fn of(aids: &[u32]) -> Self {
        Self::from_sorted(distinct_aids(aids)).expect("distinct aids are ascending")
    }

    /// The ids of `known`, strictly ascending: the identity when they are dense enough.
    pub fn from_sorted(known: Vec<u32>) -> Result<Self, NotAscending> {
        if let Some(row) = known.windows(2).position(|w| w[0] >= w[1]) {
            return Err(NotAscending { row: row + 1 });
        }
        let bound = known.last().map_or(0, |&a| a as usize + 1);
        if bound <= IDENTITY_SPREAD * known.len() {
            return Ok(ItemIds::Identity { bound });
        }
        Ok(Self::ranked(known))
    }

    /// Positions = ranks of `known` (strictly ascending).
    fn ranked(known: Vec<u32>) -> Self {
        let positions = known
            .iter()
            .enumerate()
            .map(|(p, &a)| (a, p as u32))
            .collect();
        ItemIds::Sparse {
            aids: known,
            positions,
        }
    }

    /// The ids of an index whose item statistics have rows for `aids` (as a bundle's
    /// statistics file lists them): the identity when they are `0..n`.
    pub fn from_rows(aids: Vec<u32>) -> Result<Self, NotAscending> {
        if aids.iter().enumerate().all(|(i, &a)| a as usize == i) {
            return Ok(ItemIds::Identity { bound: aids.len() });
        }
        if let Some(row) = aids.windows(2).position(|w| w[0] >= w[1]) {
            return Err(NotAscending { row: row + 1 });
        }
        // An identity index writes a row for every aid below its bound; other rows are
        // ranked as they stand, however dense.
        Ok(Self::ranked(aids))
    }

    /// Number of positions (the length of every per-item array).
    pub fn len(&self) -> usize {
        match self {
            ItemIds::Identity { bound } => *bound,
            ItemIds::Sparse { aids, .. } => aids.len(),
        }
    }

    /// True when the index knows no aid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when positions are the aids themselves.
    pub fn is_identity(&self) -> bool {
        matches!(self, ItemIds::Identity { .. })
    }

    /// The position of a known aid.
    pub fn position(&self, aid: u32) -> Option<u32> {
        match self {
            ItemIds::Identity { bound } => ((aid as usize) < *bound).then_some(aid),
            ItemIds::Sparse { positions, .. } => positions.get(&aid).copied(),
        }
    }

    /// The aid at a position below [`len`](Self::len).
    pub fn aid(&self, position: u32) -> u32 {
        match self {
            ItemIds::Identity { .. } => position,
            ItemIds::Sparse { aids, .. } => aids[position as usize],
        }
    }

    /// One past the largest aid a position stands for (0 when none).
    pub fn aid_limit(&self) -> u64 {
        match self {
            ItemIds::Identity { bound } => *bound as u64,
            ItemIds::Sparse { aids, .. } => aids.last().map_or(0, |&a| a as u64 + 1),
        }
    }

    /// The aid of every position, in order (for files).
    pub fn aids(&self) -> Vec<u32> {
        (0..self.len() as u32).map(|p| self.aid(p)).collect()
    }

    /// A session's aids as positions: `None` for the identity, where they already are.
    /// Unknown aids get positions from [`len`](Self::len) on, one per distinct aid in order
    /// of first appearance.
    pub fn localize(&self, aids: &[u32]) -> Option<Localized> {
        let ItemIds::Sparse { positions, .. } = self else {
            return None;
        };
        let known = positions.len() as u32;
        let mut unknown: Vec<u32> = Vec::new();
        let local = aids
            .iter()
            .map(|&a| match positions.get(&a) {
                Some(&p) => p,
                None => {
                    let j = unknown.iter().position(|&u| u == a).unwrap_or_else(|| {
                        unknown.push(a);
                        unknown.len() - 1
                    });
                    known + j as u32
                }
            })
            .collect();
        Some(Localized {
            aids: local,
            known,
            unknown,
        })
    }

    /// Turns the aids of a log these ids were made from ([`of`](Self::of) its aids) into
    /// positions, in place; [`unlocalize_in_place`](Self::unlocalize_in_place) turns them
    /// back. Nothing to do for the identity.
    pub fn localize_in_place(&self, log: &mut SessionLog) {
        if let ItemIds::Sparse { positions, .. } = self {
            for aid in &mut log.aids {
                *aid = positions[aid];
            }
        }
    }

    /// Turns the positions [`localize_in_place`](Self::localize_in_place) made back into
    /// aids.
    pub fn unlocalize_in_place(&self, log: &mut SessionLog) {
        if let ItemIds::Sparse { aids, .. } = self {
            for position in &mut log.aids {
                *position = aids[*position as usize];
            }
        }
    }

    /// A whole log with its aids as positions (a copy; `None` for the identity). Unknown
    /// aids get a position past every known one, private to their session.
    pub fn localize_log(&self, log: &SessionLog) -> Option<SessionLog> {
        if self.is_identity() {
            return None;
        }
        let mut out = log.clone();
        for range in log.offsets.windows(2) {
            let local = self.localize(&log.aids[range[0]..range[1]])?;
            out.aids[range[0]..range[1]].copy_from_slice(&local.aids);
        }
        Some(out)
    }

    /// Labels with their aids as positions, for sessions whose aids are all known (an
    /// unknown label aid becomes a position no candidate has).
    pub fn localize_labels(&self, labels: &[SessionLabels]) -> Option<Vec<SessionLabels>> {
        if self.is_identity() {
            return None;
        }
        let to = |a: u32| self.position(a).unwrap_or(u32::MAX);
        Some(
            labels
                .iter()
                .map(|l| SessionLabels {
                    session: l.session,
                    clicks: l.clicks.map(to),
                    carts: l.carts.iter().map(|&a| to(a)).collect(),
                    orders: l.orders.iter().map(|&a| to(a)).collect(),
                })
                .collect(),
        )
    }
}

/// A session's aids as positions, and what turns positions back into its aids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Localized {
    pub aids: Vec<u32>,
    known: u32,
    unknown: Vec<u32>,
}

impl Localized {
    /// Positions back to aids, in place: known positions through `ids`, the session's
    /// own positions past them to its unknown aids.
    pub fn restore(&self, ids: &ItemIds, positions: &mut [u32]) {
        for p in positions {
            *p = match p.checked_sub(self.known) {
                Some(j) => self.unknown[j as usize],
                None => ids.aid(*p),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_aids_are_their_own_positions_and_gaps_are_allowed() {
        let ids = ItemIds::of(&[0, 2, 3, 3, 5]);
        assert_eq!(ids, ItemIds::Identity { bound: 6 });
        assert_eq!(ids.position(4), Some(4));
        assert_eq!(ids.position(6), None);
        assert!(ids.localize(&[9, 1]).is_none());
    }

    #[test]
    fn sparse_aids_are_ranked_and_unknown_ones_get_session_positions() {
        let big = u32::MAX;
        let ids = ItemIds::of(&[big, 7, 4_000_000_000, 7]);
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.position(7), Some(0));
        assert_eq!(ids.position(4_000_000_000), Some(1));
        assert_eq!(ids.position(big), Some(2));
        assert_eq!(ids.aid(2), big);
        let local = ids.localize(&[big, 11, 7, 11, 12]).unwrap();
        assert_eq!(local.aids, vec![2, 3, 0, 3, 4]);
        let mut back = vec![4, 0, 3, 1];
        local.restore(&ids, &mut back);
        assert_eq!(back, vec![12, 7, 11, 4_000_000_000]);
    }

    #[test]
    fn rows_of_a_bundle_give_the_ids_back() {
        assert_eq!(
            ItemIds::from_rows(vec![0, 1, 2]).unwrap(),
            ItemIds::Identity { bound: 3 }
        );
        let sparse = ItemIds::of(&[10, 1_000_000]);
        assert_eq!(ItemIds::from_rows(sparse.aids()).unwrap(), sparse);
        assert_eq!(
            ItemIds::from_rows(vec![5, 3]).unwrap_err(),
            NotAscending { row: 1 }
        );
    }
}
