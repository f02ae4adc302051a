//! Every retrieval source and feature scorer of the request path, registered once.
//!
//! A **retrieval source** ([`Retrieval`]) looks at a session once, offers one or more
//! ranked lists of candidates, and writes its own features for any candidate (found by it
//! or not). Each list is a slot in a candidate's ranks ([`Source`]) and a rank feature
//! `rank_{list}`. A **feature scorer** ([`Scorer`]) offers no candidates: it scores every
//! candidate, whichever sources are on.
//!
//! [`Sources`] and [`Scorers`] hold what each one found for a session; this file is the
//! only place that names them all. Registering one is a field, a line in
//! [`find`], and a line in each of [`Sources::offer`], [`write_features`] and the name
//! lists below. The order of the fields is the order of the rank slots; the order of
//! [`Sources::offer`] is the order candidates are merged in (popular items last: they only
//! fill in); the order of [`write_features`] is the row's.

use super::covisit::Covisit;
use super::history::History;
use super::knn::{self, Knn};
use super::popular::PopularItems;
use super::scorers::{NextItem, Vectors};
use super::similar::Similar;
use super::{ABSENT, Candidate, CandidateConfig, Seen};
use crate::family::{concat, total};
use crate::index::Index;

/// A retrieval source on the request path: what it found for one session.
pub trait Retrieval {
    /// `rank_{list}` for each list it offers, in slot order.
    const RANKS: &'static [&'static str];
    /// Its features, in row order.
    const FEATURES: &'static [&'static str];

    /// Offers each list's candidates, best first, as `offer(list, rank, aid)` with `list`
    /// an index into [`RANKS`](Self::RANKS).
    fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32));

    /// Appends its [`FEATURES`](Self::FEATURES) of `aid`.
    fn write_features(&self, aid: u32, row: &mut Vec<f32>);
}

/// A feature scorer: features of every candidate, from a model of the items rather than
/// from a list of candidates.
pub trait Scorer {
    /// Its features, in row order.
    const FEATURES: &'static [&'static str];

    /// Appends its [`FEATURES`](Self::FEATURES) of `aid`.
    fn write_features(&self, aid: u32, row: &mut Vec<f32>);
}

/// What each retrieval source found for a session, in rank-slot order.
#[derive(Clone, Debug)]
pub struct Sources<'a> {
    pub history: History,
    pub covisit: Covisit,
    pub popular: PopularItems<'a>,
    pub similar: Similar,
    pub knn: Knn,
}

/// What each feature scorer computed for a session.
#[derive(Clone, Debug)]
pub struct Scorers<'a> {
    pub vectors: Vectors<'a>,
    pub next_item: NextItem<'a>,
}

/// Runs every source and scorer on the session `seen`: the session-kNN lookup's memory is
/// fetched first and walked last, so it arrives while the tables are read.
pub fn find<'a>(
    index: &'a Index,
    seen: &Seen<'a>,
    config: &CandidateConfig,
) -> (Sources<'a>, Scorers<'a>) {
    let knn_query = knn::query(index, config, &seen.unique);
    let covisit = Covisit::find(index, config, seen);
    if let Some(query) = &knn_query {
        query.prefetch_sessions();
    }
    let similar = Similar::find(index, config, seen);
    let vectors = Vectors::find(index, seen);
    let next_item = NextItem::find(index, seen);
    let knn = Knn::find(index, knn_query, config);
    let sources = Sources {
        history: History::find(seen, config),
        covisit,
        popular: PopularItems::find(index),
        similar,
        knn,
    };
    (sources, Scorers { vectors, next_item })
}

/// Where each source's slots start in a candidate's ranks, in field order.
const HISTORY_AT: usize = 0;
const COVISIT_AT: usize = HISTORY_AT + History::RANKS.len();
const POPULAR_AT: usize = COVISIT_AT + Covisit::RANKS.len();
const SIMILAR_AT: usize = POPULAR_AT + PopularItems::RANKS.len();
const KNN_AT: usize = SIMILAR_AT + Similar::RANKS.len();

/// Number of candidate lists: a candidate's rank slots.
pub const NUM_SOURCES: usize = KNN_AT + Knn::RANKS.len();

/// The rank features, in slot order, then the number of lists that found the candidate.
pub const RANK_NAMES: [&str; NUM_SOURCES + 1] = concat(&[
    History::RANKS,
    Covisit::RANKS,
    PopularItems::RANKS,
    Similar::RANKS,
    Knn::RANKS,
    &["num_sources"],
]);

/// The families the sources and scorers write, in row order ([`write_features`]).
const SOURCE_FAMILIES: &[&[&str]] = &[
    Covisit::FEATURES,
    &RANK_NAMES,
    Vectors::FEATURES,
    Similar::FEATURES,
    Knn::FEATURES,
    NextItem::FEATURES,
];

/// Number of features the sources and scorers write.
pub const NUM_SOURCE_FEATURES: usize = total(SOURCE_FAMILIES);

/// The features the sources and scorers write, in row order.
pub const SOURCE_FEATURE_NAMES: [&str; NUM_SOURCE_FEATURES] = concat(SOURCE_FAMILIES);

impl Sources<'_> {
    /// Offers every list's candidates as `offer(slot, rank, aid)`, source by source.
    pub fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        self.history
            .offer(config, &mut |l, r, a| offer(HISTORY_AT + l, r, a));
        self.covisit
            .offer(config, &mut |l, r, a| offer(COVISIT_AT + l, r, a));
        self.similar
            .offer(config, &mut |l, r, a| offer(SIMILAR_AT + l, r, a));
        self.knn
            .offer(config, &mut |l, r, a| offer(KNN_AT + l, r, a));
        self.popular
            .offer(config, &mut |l, r, a| offer(POPULAR_AT + l, r, a));
    }

    /// Most candidates the lists can offer under `config`.
    pub fn most(config: &CandidateConfig) -> usize {
        config.history
            + Covisit::RANKS.len() * config.per_table
            + PopularItems::RANKS.len() * config.popular
            + config.similar
            + config.knn
    }
}

/// Appends the features of `candidate` that the sources and scorers write
/// ([`SOURCE_FEATURE_NAMES`]).
#[inline]
pub fn write_features(
    sources: &Sources<'_>,
    scorers: &Scorers<'_>,
    candidate: &Candidate,
    row: &mut Vec<f32>,
) {
    let aid = candidate.aid;
    sources.covisit.write_features(aid, row);
    for &rank in &candidate.ranks {
        row.push(if rank == ABSENT {
            f32::NAN
        } else {
            rank as f32
        });
    }
    row.push(candidate.num_sources() as f32);
    scorers.vectors.write_features(aid, row);
    sources.similar.write_features(aid, row);
    sources.knn.write_features(aid, row);
    scorers.next_item.write_features(aid, row);
}

/// One candidate list: a slot in a candidate's ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source(usize);

impl Source {
    /// Every list, in slot order.
    pub fn all() -> [Source; NUM_SOURCES] {
        std::array::from_fn(Source)
    }

    /// The list named `name` (`history`, `covisit_clicks`, `knn`, …).
    pub fn named(name: &str) -> Option<Source> {
        Source::all().into_iter().find(|s| s.name() == name)
    }

    /// Position in a candidate's rank array.
    pub fn index(self) -> usize {
        self.0
    }

    /// Short name, for reports: its rank feature's name without `rank_`.
    pub fn name(self) -> &'static str {
        let rank = RANK_NAMES[self.0];
        rank.strip_prefix("rank_").unwrap_or(rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_has_a_rank_feature_and_a_slot() {
        for (i, s) in Source::all().into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(RANK_NAMES[i], format!("rank_{}", s.name()));
            assert_eq!(Source::named(s.name()), Some(s));
        }
        assert_eq!(RANK_NAMES[NUM_SOURCES], "num_sources");
        assert_eq!(Source::named("nothing"), None);
    }
}
