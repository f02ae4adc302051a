//! Ground truth of a truncated session: what it clicked, carted and ordered after the cut
//! (the official `labels.py`): the first click, and the *sets* of carted and ordered aids.

use super::{EventType, Session};

/// What a session did after its cut point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionLabels {
    pub session: u32,
    /// The first aid clicked after the cut. Aid 0 is an aid like any other (the official
    /// `evaluate.py` tests a click label for truthiness and so skips a click on aid 0;
    /// otto-rec counts it).
    pub clicks: Option<u32>,
    /// Distinct aids carted after the cut, in order of first occurrence.
    pub carts: Vec<u32>,
    /// Distinct aids ordered after the cut, in order of first occurrence.
    pub orders: Vec<u32>,
}

impl SessionLabels {
    /// The labels of `session` for the events after its first `kept` events.
    pub fn after(session: Session<'_>, kept: usize) -> Self {
        let mut labels = SessionLabels {
            session: session.id,
            ..Default::default()
        };
        for (&aid, &kind) in session.aids[kept..].iter().zip(&session.types[kept..]) {
            match kind {
                EventType::Click => {
                    labels.clicks.get_or_insert(aid);
                }
                EventType::Cart => labels.carts.push(aid),
                EventType::Order => labels.orders.push(aid),
            }
        }
        labels.into_sets()
    }

    /// The same labels with repeated cart and order aids removed (first occurrence kept):
    /// the metric's truth is a set.
    pub fn into_sets(mut self) -> Self {
        for list in [&mut self.carts, &mut self.orders] {
            let mut seen = rustc_hash::FxHashSet::default();
            list.retain(|&aid| seen.insert(aid));
        }
        self
    }

    /// The truth for one objective, as a slice (the click as a one-element slice).
    pub fn truth(&self, objective: EventType) -> &[u32] {
        match objective {
            EventType::Click => self.clicks.as_slice(),
            EventType::Cart => &self.carts,
            EventType::Order => &self.orders,
        }
    }

    /// True when nothing happened after the cut.
    pub fn is_empty(&self) -> bool {
        self.clicks.is_none() && self.carts.is_empty() && self.orders.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};

    fn labels(clicks: Option<u32>, carts: &[u32], orders: &[u32]) -> SessionLabels {
        SessionLabels {
            session: 0,
            clicks,
            carts: carts.to_vec(),
            orders: orders.to_vec(),
        }
    }

    /// The labelled session of the OTTO dataset documentation: clicks on 0..4, carts of 2
    /// and 3, orders of 2 and 3 (both orders at one timestamp).
    #[test]
    fn labels_after_each_cut_match_the_otto_documentation() {
        let events = [
            (0, 1_661_200_010, Click),
            (1, 1_661_200_020, Click),
            (2, 1_661_200_030, Click),
            (2, 1_661_200_040, Cart),
            (3, 1_661_200_050, Click),
            (3, 1_661_200_060, Cart),
            (4, 1_661_200_070, Click),
            (2, 1_661_200_080, Order),
            (3, 1_661_200_080, Order),
        ];
        let aids: Vec<u32> = events.iter().map(|e| e.0).collect();
        let ts: Vec<u32> = events.iter().map(|e| e.1).collect();
        let types: Vec<EventType> = events.iter().map(|e| e.2).collect();
        let session = Session::new(&aids, &ts, &types);
        let expected = [
            labels(Some(1), &[2, 3], &[2, 3]),
            labels(Some(2), &[2, 3], &[2, 3]),
            labels(Some(3), &[2, 3], &[2, 3]),
            labels(Some(3), &[3], &[2, 3]),
            labels(Some(4), &[3], &[2, 3]),
            labels(Some(4), &[], &[2, 3]),
            labels(None, &[], &[2, 3]),
            labels(None, &[], &[3]),
        ];
        for (kept, want) in (1..aids.len()).zip(expected) {
            assert_eq!(
                SessionLabels::after(session, kept),
                want,
                "cut after {kept} events"
            );
        }
    }

    #[test]
    fn repeated_label_aids_count_once() {
        let l = labels(Some(0), &[5, 6, 5], &[7, 7]).into_sets();
        assert_eq!(l.carts, vec![5, 6]);
        assert_eq!(l.orders, vec![7]);
        assert_eq!(l.truth(EventType::Click), &[0]);
    }
}
