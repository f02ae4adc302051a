//! The popular items: the index's most clicked and most ordered items, the same for
//! every session, so every session has candidates.

use super::CandidateConfig;
use super::registry::Retrieval;
use crate::domain::EventType;
use crate::index::{Index, Popular};

/// The index's popular lists.
#[derive(Clone, Debug)]
pub struct PopularItems<'a> {
    popular: &'a Popular,
}

/// The popularity lists offered, in slot order.
const KINDS: [EventType; 2] = [EventType::Click, EventType::Order];

impl<'a> PopularItems<'a> {
    pub(super) fn find(index: &'a Index) -> Self {
        PopularItems {
            popular: &index.popular,
        }
    }
}

impl Retrieval for PopularItems<'_> {
    const RANKS: &'static [&'static str] = &["rank_popular_clicks", "rank_popular_orders"];
    const FEATURES: &'static [&'static str] = &[];

    fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        for (list, kind) in KINDS.into_iter().enumerate() {
            for (rank, &aid) in self
                .popular
                .of(kind)
                .iter()
                .take(config.popular)
                .enumerate()
            {
                offer(list, rank, aid);
            }
        }
    }

    fn write_features(&self, _: u32, _: &mut Vec<f32>) {}
}
