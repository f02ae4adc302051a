//! The output of every ranking strategy: items with scores, best first.

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
